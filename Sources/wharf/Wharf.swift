import ArgumentParser
import Foundation
import Logging
import WharfServer

@main
struct Wharf: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wharf",
        abstract: "An OCI container registry: the OCI Distribution API v1.1 on content-addressed storage.",
        version: WharfVersion.current,
        subcommands: [
            Serve.self, GC.self, Fsck.self, Keys.self, Audit.self, Replication.self, Users.self, Robots.self, Auth.self,
            Certs.self, AgentCommand.self, P2P.self, Migrate.self,
        ]
    )

    /// Runs the command; a failure to talk to the server prints one line and exits with its documented status.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let failure as ServerFailure {
            FileHandle.standardError.write(Data("wharf: \(failure)\n".utf8))
            Foundation.exit(failure.exitCode)
        } catch {
            exit(withError: error)
        }
    }
}

/// Options of every subcommand that works on a store.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("YAML configuration file.", valueName: "file"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Directory for blobs, uploads and the metadata database.", valueName: "dir"))
    var dataDir: String?

    /// Defaults, then the file (`--config` or `WHARF_CONFIG`), then `WHARF_*` variables, then `adjust` (the flags).
    func configuration(_ adjust: (inout WharfConfiguration) -> Void = { _ in }) throws -> WharfConfiguration {
        let environment = ProcessInfo.processInfo.environment
        var configuration = WharfConfiguration()
        do {
            if let file = config ?? environment["WHARF_CONFIG"] { try configuration.apply(yamlFile: file) }
            try configuration.apply(environment: environment)
            if let dataDir { configuration.dataDirectory = dataDir }
            adjust(&configuration)
            try configuration.validate()
        } catch let error as WharfConfiguration.Invalid {
            throw ValidationError(error.description)
        }
        return configuration
    }
}
