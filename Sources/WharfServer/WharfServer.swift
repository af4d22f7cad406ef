import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOSSL
import ServiceLifecycle
import UnixSignals
import WharfAudit
import WharfAuth
import WharfConsole
import WharfCore
import WharfP2P
import WharfReplication
import WharfStorage

/// Builds the registry behind one HTTP application per listen address, sharing one store.
public enum WharfServer {
    /// The registry application on one address; tests use it with Hummingbird's test client.
    public static func buildApplication(
        _ configuration: WharfConfiguration, address: String? = nil, logger: Logger
    ) async throws -> some ApplicationProtocol {
        var configuration = configuration
        configuration.listen = [address ?? configuration.listen[0]]
        configuration.tlsListen = []
        return try await build(configuration, logger: logger).applications[0]
    }

    /// Runs until SIGINT or SIGTERM, then shuts down gracefully.
    public static func run(_ configuration: WharfConfiguration, logger: Logger) async throws {
        BufferReuse.configure()
        let (applications, services, underneath) = try await build(configuration, logger: logger)
        logger.info(
            "wharf is serving",
            metadata: [
                "version": "\(WharfVersion.current)",
                "listen": "\(configuration.listen.joined(separator: ","))",
                "tls": "\(configuration.tlsListen.joined(separator: ","))", "data": "\(configuration.dataDirectory)",
                "auth": "\(configuration.auth.enabled ? "on" : "off")",
            ])
        if configuration.auth.enabled, !configuration.listen.isEmpty {
            logger.warning(
                "access control is on and plain HTTP is served: credentials and tokens cross it unencrypted unless a TLS proxy is in front",
                metadata: ["listen": "\(configuration.listen.joined(separator: ","))"])
        }
        let group = ServiceGroup(
            configuration: .init(
                // Services stop in reverse order: the audit log and the store last, after the servers have answered
                // their last request.
                services: underneath.map { .init(service: $0) } + applications.map { .init(service: $0) }
                    + services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// Opens the store a configuration names, for the maintenance commands.
    package static func openStore(_ configuration: WharfConfiguration, logger: Logger) throws -> Registry {
        try Registry(configuration: storageConfiguration(configuration), logger: logger)
    }

    /// Creates or upgrades the PostgreSQL metadata schema a configuration names (`wharf migrate`); nil with SQLite,
    /// whose file the server upgrades itself when it opens it.
    package static func migrateMetadata(_ configuration: WharfConfiguration, logger: Logger) async throws
        -> (from: Int, to: Int)?
    {
        guard let settings = configuration.metadata.postgres else { return nil }
        let database = try PostgreSQLDatabase(settings: settings, logger: logger)
        do {
            let versions = try PostgreSQLSchema.migrate(database)
            try await database.close()
            return versions
        } catch {
            try? await database.close()
            throw error
        }
    }

    private static func storageConfiguration(_ configuration: WharfConfiguration) -> StorageConfiguration {
        var encryption: EncryptionSettings?
        if configuration.encryptionEnabled {
            if let keys = EnvironmentKeys(configuration.environmentKeys) {
                encryption = EncryptionSettings(provider: keys, createFirstKey: false)
            } else {
                // Only the embedded default creates its own first key; a configured key directory must hold one.
                encryption = EncryptionSettings(
                    provider: KeyringDirectory(path: configuration.keyDirectory),
                    createFirstKey: configuration.encryptionKeyDirectory == nil)
            }
        }
        return StorageConfiguration(
            dataDirectory: configuration.dataDirectory, maxManifestBytes: configuration.maxManifestBytes,
            maxBlobBytes: configuration.maxBlobBytes > 0 ? configuration.maxBlobBytes : nil, encryption: encryption,
            objectStorage: configuration.storage.objectStorage, postgres: configuration.metadata.postgres,
            cachedReferences: configuration.cachedReferences)
    }

    /// The servers, the services beside them, and what they stand on (the audit log, the store's connections).
    private static func build(_ configuration: WharfConfiguration, logger: Logger) async throws
        -> (applications: [Application<WharfResponder>], services: [any Service], underneath: [any Service])
    {
        try configuration.validate()
        let registry = try openStore(configuration, logger: logger)
        do {
            try await registry.prepareStorage()
            return try await build(configuration, registry: registry, logger: logger)
        } catch {
            try? await registry.close()
            throw error
        }
    }

    private static func build(_ configuration: WharfConfiguration, registry: Registry, logger: Logger) async throws
        -> (applications: [Application<WharfResponder>], services: [any Service], underneath: [any Service])
    {
        let metrics = RegistryMetrics()
        var audit: RequestAudit?
        if configuration.audit.enabled {
            let settings = configuration.audit.settings(directory: configuration.auditDirectory)
            let database = registry.metadata.database
            // On a cluster, each instance writes its own chain into the shared database.
            let log =
                database.dialect == .postgres
                ? try AuditLog(
                    settings: settings, database: database,
                    instance: AuditTable.instanceID(configured: configuration.audit.instance, directory: settings.directory),
                    logger: logger)
                : try AuditLog(settings: settings, logger: logger)
            audit = RequestAudit(log: log, logger: logger)
        }
        var services = [any Service]()
        var gate: Gatekeeper?
        var tokenEndpoint: TokenEndpoint?
        if configuration.auth.enabled {
            (gate, tokenEndpoint) = try await accessControl(
                configuration, storage: try IdentityStorage(configuration, registry: registry), logger: logger)
            if let tokens = tokenEndpoint?.tokens {
                // Picks up a key added by `wharf auth rotate-signing-key` (or retired), here or on another instance.
                services.append(
                    PeriodicService(name: "token key reload", interval: .seconds(10), logger: logger) {
                        try await tokens.reload()
                    })
            }
        }
        // Always there: rules may also be made through the API. With no event rule, pushes pay nothing for it.
        let replication = try await ReplicationService(
            registry: registry, rules: configuration.replication.rules, settings: configuration.replication.settings,
            logger: logger
        ) { [audit] outcome in
            metrics.recordReplication(outcome)
            audit?.log.record(RequestAudit.replicationRecord(outcome))
        } onPoolDecision: { decision in
            metrics.recordPoolDecision(decision)
        }
        services.append(replication)
        let instance = try await registry.metadata.instanceID()
        let p2pKey = try P2PKey.loadOrCreate(in: configuration.dataDirectory + "/p2p")
        let preheater = Preheater(registry: registry, pushRules: configuration.p2pPreheat.map { RepositoryPattern($0) })
        let p2p = P2PAPI(
            key: p2pKey, tokens: try await PieceTokens(signingWith: p2pKey), lists: PieceLists(registry: registry),
            tracker: Tracker(), preheater: preheater)
        // Swarms whose agents all went silent are dropped, so the tracker's memory follows the live swarms.
        services.append(
            PeriodicService(name: "p2p tracker expiry", interval: .seconds(60), logger: logger) { p2p.tracker.expire() })
        let console =
            configuration.consoleEnabled
            ? ConsoleAPI(
                base: configuration.consolePath, renderer: try ConsoleRenderer(base: configuration.consolePath),
                browser: RegistryBrowser(registry: registry), sessions: ConsoleSessions(metadata: registry.metadata),
                gate: gate, audit: audit?.log,
                chain: audit.map {
                    AuditChainCheck(
                        settings: $0.log.settings,
                        database: registry.metadata.database.dialect == .postgres ? registry.metadata.database : nil)
                }, replication: replication, tracker: p2p.tracker) : nil
        func responder(scheme: String) throws -> WharfResponder {
            WharfResponder(
                api: DistributionAPI(registry: registry, metrics: metrics, instance: instance, preheater: preheater),
                replication: ReplicationAPI(service: replication), p2p: p2p,
                admin: AdminAPI(registry: registry, metrics: metrics, gcGrace: configuration.gcGrace), console: console,
                audit: audit,
                gate: gate, tokenEndpoint: tokenEndpoint, proxies: try TrustedProxies(configuration.audit.trustedProxies),
                scheme: scheme, logger: logger)
        }
        let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: [RequestBodyFlow()])
        var applications = try configuration.listen.map { address in
            let (host, port) = try WharfConfiguration.hostAndPort(address)
            return Application(
                responder: try responder(scheme: "http"),
                server: HTTPServerBuilder { EventLoopChannel(HTTP1Channel(responder: $0, configuration: http1)) },
                configuration: .init(address: .hostname(host, port: port), serverName: "wharf"), logger: logger)
        }
        if !configuration.tlsListen.isEmpty, let certificate = configuration.tlsCertificate, let key = configuration.tlsKey {
            let tls = try tlsConfiguration(certificate: certificate, key: key)
            for address in configuration.tlsListen {
                let (host, port) = try WharfConfiguration.hostAndPort(address)
                applications.append(
                    Application(
                        responder: try responder(scheme: "https"),
                        server: HTTPServerBuilder {
                            EventLoopChannel(
                                try TLSChannel(HTTP1Channel(responder: $0, configuration: http1), tlsConfiguration: tls))
                        },
                        configuration: .init(address: .hostname(host, port: port), serverName: "wharf"), logger: logger))
            }
        }
        let purger = PeriodicService(name: "upload purge", interval: configuration.uploadPurgeInterval, logger: logger) {
            try await registry.purgeUploads(olderThan: configuration.uploadTTL)
        }
        let collector = PeriodicService(name: "garbage collection", interval: configuration.gcInterval, logger: logger) {
            metrics.recordGarbageCollection(try await registry.collectGarbage(grace: configuration.gcGrace, dryRun: false))
        }
        // Shut down in reverse order: the audit log writes its last records (into PostgreSQL, on a cluster) before the
        // store's connections close.
        let underneath: [any Service] = [StoreConnections(registry: registry)] + (audit.map { [$0.log] } ?? [])
        return (applications, services + [purger, collector], underneath)
    }

    private static func accessControl(
        _ configuration: WharfConfiguration, storage: IdentityStorage, logger: Logger
    ) async throws -> (Gatekeeper, TokenEndpoint?) {
        let options = configuration.auth
        let authenticator = await Authenticator(
            store: storage.identities, htpasswdPath: options.htpasswd, groups: options.groups, logger: logger)
        let tokens =
            options.tokenEnabled
            ? try await TokenService(settings: options.tokenSettings, keys: storage.signingKeys, logger: logger)
            : nil
        let gate = Gatekeeper(
            policy: try options.accessPolicy(), authenticator: authenticator, tokens: tokens,
            throttle: LoginThrottle(limit: options.failureLimit, window: options.failureWindow), realm: options.realm,
            logger: logger)
        return (gate, tokens.map { TokenEndpoint(gate: gate, tokens: $0) })
    }

    /// The server's certificate chain and key, from PEM files; a clear error when either cannot be read.
    static func tlsConfiguration(certificate: String, key: String) throws -> TLSConfiguration {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificate)
            return TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        } catch {
            throw WharfConfiguration.Invalid(description: "TLS certificate \(certificate) or key \(key): \(error)")
        }
    }
}

/// Closes the store's connections (the S3 client's) once it is told to stop, which is after the servers.
struct StoreConnections: Service {
    let registry: Registry

    func run() async throws {
        try? await gracefulShutdown()
        try await registry.close()
    }
}
