import ArgumentParser
import Foundation
import Logging
import WharfP2P
import WharfServer

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run a P2P agent: a registry mirror for this node that fetches blobs from other agents.",
        discussion: """
            Point the node's container engine at --listen as a mirror of the origin (see the README). Blobs come as \
            pieces from other agents and, within the tracker's budget, from the origin; every piece is checked \
            against the registry's signed piece list, and the whole blob against its digest.
            """
    )

    @Option(help: ArgumentHelp("The registry this agent fronts.", valueName: "url"))
    var origin: String

    @Option(help: ArgumentHelp("The tracker, when it is not the origin.", valueName: "url"))
    var tracker: String?

    @Option(help: ArgumentHelp("Address the mirror listens on.", valueName: "host:port"))
    var listen = "127.0.0.1:5001"

    @Option(help: ArgumentHelp("Address other agents fetch pieces from.", valueName: "host:port"))
    var peerListen = "0.0.0.0:5002"

    @Option(
        help: ArgumentHelp(
            "How other agents reach the peer port (default: --peer-listen, or this host's name when that binds every address).",
            valueName: "url"))
    var peerAdvertise: String?

    @Option(help: ArgumentHelp("TLS certificate of the peer port (PEM).", valueName: "file"))
    var peerTLSCert: String?

    @Option(help: ArgumentHelp("TLS key of the peer port (PEM).", valueName: "file"))
    var peerTLSKey: String?

    @Option(help: ArgumentHelp("CA that signs the origin's and the peers' certificates.", valueName: "file"))
    var caFile: String?

    @Flag(help: "Trust any TLS certificate of the origin and the peers.")
    var insecure = false

    @Option(help: ArgumentHelp("Where verified blobs are kept.", valueName: "dir"))
    var cacheDir = "./agent-cache"

    @Option(help: ArgumentHelp("Most bytes the cache keeps (e.g. 20GiB).", valueName: "size"))
    var cacheSize = "20GiB"

    @Flag(help: "Follow the origin's preheat list and fetch every image listed ahead of its pulls.")
    var seeder = false

    @Option(help: "The seeder's user or robot at the origin (password from WHARF_AGENT_PASSWORD or --password-file).")
    var username: String?

    @Option(help: ArgumentHelp("File holding the seeder's password.", valueName: "file"))
    var passwordFile: String?

    @Option(help: "Pieces of one blob fetched at once.")
    var piecesInFlight = 8

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    @Flag(help: .hidden)
    var testCorruptServedPieces = false

    func validate() throws {
        guard AgentSettings.parseSize(cacheSize) != nil else { throw ValidationError("--cache-size: not a size: \(cacheSize)") }
        guard (peerTLSCert == nil) == (peerTLSKey == nil) else {
            throw ValidationError("--peer-tls-cert and --peer-tls-key go together")
        }
        guard piecesInFlight > 0 else { throw ValidationError("--pieces-in-flight must be at least 1") }
        guard username == nil || seeder else { throw ValidationError("--username is for a --seeder") }

    }

    /// For a peer port on every address, this host's name: peers cannot reach 0.0.0.0.
    private func defaultAdvertise() -> String? {
        guard let colon = peerListen.lastIndex(of: ":"), ["0.0.0.0", "[::]", "::"].contains(String(peerListen[..<colon]))
        else { return nil }
        return "\(peerTLSCert == nil ? "http" : "https")://\(ProcessInfo.processInfo.hostName)\(peerListen[colon...])"
    }

    /// The seeder's Basic credentials, when it has a user.
    private func seederAuthorization() throws -> String? {
        guard let username else { return nil }
        var password = ProcessInfo.processInfo.environment["WHARF_AGENT_PASSWORD"]
        if let passwordFile {
            password = try String(contentsOfFile: passwordFile, encoding: .utf8).trimmingCharacters(in: .newlines)
        }
        guard let password else { throw ValidationError("--username needs WHARF_AGENT_PASSWORD or --password-file") }
        return "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
    }

    func run() async throws {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label, format: .text)
            handler.logLevel = level
            return handler
        }
        try await AgentServer.run(
            .init(
                origin: origin, tracker: tracker, listen: listen, peerListen: peerListen,
                peerAdvertise: peerAdvertise ?? defaultAdvertise(),
                peerTLSCertificate: peerTLSCert, peerTLSKey: peerTLSKey, cacheDirectory: cacheDir,
                cacheSize: AgentSettings.parseSize(cacheSize)!, caFile: caFile, insecure: insecure,
                piecesInFlight: piecesInFlight, seeder: seeder ? .init(authorization: try seederAuthorization()) : nil,
                corruptServedPieces: testCorruptServedPieces),
            logger: Logger(label: "wharf-agent"))
    }
}
