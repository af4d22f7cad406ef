import ArgumentParser
import Logging
import WharfServer

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the registry server.",
        discussion: """
            With no options it listens on 0.0.0.0:5000 (plain HTTP) and keeps its data in ./storage.
            Settings come from, later ones winning: built-in defaults, the YAML file given by --config \
            (or WHARF_CONFIG), WHARF_* environment variables (WHARF_LISTEN, WHARF_DATA_DIR, WHARF_LOG_LEVEL, \
            WHARF_LOG_FORMAT, WHARF_MAX_MANIFEST_BYTES, WHARF_MAX_BLOB_BYTES, WHARF_UPLOAD_TTL, WHARF_TLS_*, WHARF_AUTH*, \
            WHARF_AUDIT*), and these options. See the README for the whole list.
            """
    )

    @OptionGroup var store: StoreOptions

    @Option(name: .long, help: ArgumentHelp("Address to listen on; repeat for several.", valueName: "host:port"))
    var listen: [String] = []

    @Option(name: .long, help: ArgumentHelp("Address to listen on with TLS; repeat for several.", valueName: "host:port"))
    var tlsListen: [String] = []

    @Option(name: .long, help: ArgumentHelp("TLS certificate chain (PEM).", valueName: "file"))
    var tlsCert: String?

    @Option(name: .long, help: ArgumentHelp("TLS private key (PEM).", valueName: "file"))
    var tlsKey: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String?

    @Option(name: .long, help: "Log format: text or json.")
    var logFormat: String?

    func run() async throws {
        let configuration = try store.configuration { configuration in
            if !listen.isEmpty { configuration.listen = listen }
            if !tlsListen.isEmpty { configuration.tlsListen = tlsListen }
            if let tlsCert { configuration.tlsCertificate = tlsCert }
            if let tlsKey { configuration.tlsKey = tlsKey }
            if let logLevel { configuration.logLevel = logLevel }
            if let logFormat { configuration.logFormat = logFormat }
        }
        let level = Logger.Level(rawValue: configuration.logLevel) ?? .info
        let json = configuration.logFormat == "json"
        LoggingSystem.bootstrap { label in
            var handler = LineLogHandler(label: label, format: json ? .json : .text)
            handler.logLevel = level
            return handler
        }
        try await WharfServer.run(configuration, logger: Logger(label: "wharf"))
    }
}
