import Hummingbird
import HummingbirdTLS
import Logging
import ServiceLifecycle
import UnixSignals
import WharfP2P
import WharfStorage

/// Runs `wharf agent`: the mirror on `listen` (with `/metrics`), the peer port on `peerListen` (TLS when a
/// certificate is given), and the announcements of cached blobs.
public enum AgentServer {
    public struct Options: Sendable {
        public var origin: String
        public var tracker: String?
        public var listen: String
        public var peerListen: String
        /// How peers reach this agent; by default the peer listen address.
        public var peerAdvertise: String?
        public var peerTLSCertificate: String?
        public var peerTLSKey: String?
        public var cacheDirectory: String
        public var cacheSize: Int64
        public var caFile: String?
        public var insecure: Bool
        public var piecesInFlight: Int
        /// Set for an agent that follows the origin's preheat list.
        public var seeder: Seeder?
        public var corruptServedPieces: Bool

        public struct Seeder: Sendable {
            /// The seeder's own credentials at the origin (an `Authorization` value).
            public var authorization: String?

            public init(authorization: String?) { self.authorization = authorization }
        }

        public init(
            origin: String, tracker: String?, listen: String, peerListen: String, peerAdvertise: String?,
            peerTLSCertificate: String?, peerTLSKey: String?, cacheDirectory: String, cacheSize: Int64,
            caFile: String?, insecure: Bool, piecesInFlight: Int, seeder: Seeder?, corruptServedPieces: Bool
        ) {
            self.origin = origin
            self.tracker = tracker
            self.listen = listen
            self.peerListen = peerListen
            self.peerAdvertise = peerAdvertise
            self.peerTLSCertificate = peerTLSCertificate
            self.peerTLSKey = peerTLSKey
            self.cacheDirectory = cacheDirectory
            self.cacheSize = cacheSize
            self.caFile = caFile
            self.insecure = insecure
            self.piecesInFlight = piecesInFlight
            self.seeder = seeder
            self.corruptServedPieces = corruptServedPieces
        }
    }

    public static func run(_ options: Options, logger: Logger) async throws {
        let tls = options.peerTLSCertificate != nil
        var settings = AgentSettings(
            origin: options.origin, tracker: options.tracker,
            peerAddress: options.peerAdvertise ?? "\(tls ? "https" : "http")://\(options.peerListen)",
            cacheDirectory: options.cacheDirectory, cacheSize: options.cacheSize)
        settings.caFile = options.caFile
        settings.insecure = options.insecure
        settings.piecesInFlight = options.piecesInFlight
        settings.corruptServedPieces = options.corruptServedPieces
        let agent = try Agent(settings: settings, logger: logger)
        let (host, port) = try WharfConfiguration.hostAndPort(options.listen)
        let (peerHost, peerPort) = try WharfConfiguration.hostAndPort(options.peerListen)
        let mirror = Application(
            responder: MirrorResponder(agent: agent),
            configuration: .init(address: .hostname(host, port: port), serverName: "wharf-agent"), logger: logger)
        let peerConfiguration = ApplicationConfiguration(
            address: .hostname(peerHost, port: peerPort), serverName: "wharf-agent")
        let peer: any Service
        if let certificate = options.peerTLSCertificate, let key = options.peerTLSKey {
            peer = Application(
                responder: PeerResponder(agent: agent),
                server: try .tls(.http1(), tlsConfiguration: WharfServer.tlsConfiguration(certificate: certificate, key: key)),
                configuration: peerConfiguration, logger: logger)
        } else {
            peer = Application(responder: PeerResponder(agent: agent), configuration: peerConfiguration, logger: logger)
        }
        let announcer = PeriodicService(name: "cache announcements", interval: .seconds(10), logger: logger) {
            await agent.announceCached()
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: mirror), .init(service: peer), .init(service: announcer),
        ]
        if let seeder = options.seeder {
            services.append(.init(service: Preheats(agent: agent, authorization: seeder.authorization)))
        }
        logger.info(
            "wharf agent is serving",
            metadata: [
                "origin": "\(settings.origin)", "listen": "\(options.listen)", "peer": "\(settings.peerAddress)",
                "id": "\(agent.id)", "cache": "\(settings.cacheDirectory)", "seeder": "\(options.seeder != nil)",
            ])
        let group = ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        try await agent.shutdown()
    }
}

/// A seeder's preheat loop, until shutdown.
private struct Preheats: Service {
    let agent: Agent
    let authorization: String?

    func run() async throws {
        await cancelWhenGracefulShutdown { await agent.followPreheats(authorization: authorization) }
    }
}
