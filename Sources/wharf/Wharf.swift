import ArgumentParser
import Foundation
import Logging
import WharfServer

@main
struct Wharf: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wharf",
        abstract: "An OCI container registry: the OCI Distribution API v1.1 on content-addressed storage.",
        subcommands: [Serve.self],
        defaultSubcommand: nil
    )
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the registry server.",
        discussion: """
            With no options it listens on 0.0.0.0:5000 (plain HTTP) and keeps its data in ./storage.
            Settings come from, later ones winning: built-in defaults, the YAML file given by --config \
            (or WHARF_CONFIG), WHARF_* environment variables (WHARF_LISTEN, WHARF_DATA_DIR, WHARF_LOG_LEVEL, \
            WHARF_LOG_FORMAT, WHARF_MAX_MANIFEST_BYTES, WHARF_MAX_BLOB_BYTES, WHARF_UPLOAD_TTL), and these options.
            """
    )

    @Option(name: .long, help: ArgumentHelp("Address to listen on; repeat for several.", valueName: "host:port"))
    var listen: [String] = []

    @Option(name: .long, help: ArgumentHelp("Directory for blobs, uploads and the metadata database.", valueName: "dir"))
    var dataDir: String?

    @Option(name: .long, help: ArgumentHelp("YAML configuration file.", valueName: "file"))
    var config: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String?

    @Option(name: .long, help: "Log format: text or json.")
    var logFormat: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        var configuration = WharfConfiguration()
        do {
            if let file = config ?? environment["WHARF_CONFIG"] { try configuration.apply(yamlFile: file) }
            try configuration.apply(environment: environment)
            if !listen.isEmpty { configuration.listen = listen }
            if let dataDir { configuration.dataDirectory = dataDir }
            if let logLevel { configuration.logLevel = logLevel }
            if let logFormat { configuration.logFormat = logFormat }
            try configuration.validate()
        } catch let error as WharfConfiguration.Invalid {
            throw ValidationError(error.description)
        }
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        let json = configuration.logFormat == "json"
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        try await WharfServer.run(configuration, logger: Logger(label: "wharf"))
    }
}
