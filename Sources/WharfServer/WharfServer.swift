import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals
import WharfAudit
import WharfStorage

/// Builds the registry behind one HTTP application per listen address, sharing one store.
public enum WharfServer {
    /// The registry application on one address; tests use it with Hummingbird's test client.
    public static func buildApplication(
        _ configuration: WharfConfiguration, address: String? = nil, logger: Logger
    ) throws -> some ApplicationProtocol {
        let (application, _, _) = try build(configuration, addresses: [address ?? configuration.listen[0]], logger: logger)
        return application[0]
    }

    /// Runs until SIGINT or SIGTERM, then shuts down gracefully.
    public static func run(_ configuration: WharfConfiguration, logger: Logger) async throws {
        let (applications, services, auditLog) = try build(configuration, addresses: configuration.listen, logger: logger)
        logger.info(
            "wharf is serving",
            metadata: ["listen": "\(configuration.listen.joined(separator: ","))", "data": "\(configuration.dataDirectory)"])
        let group = ServiceGroup(
            configuration: .init(
                // Services stop in reverse order: the audit log last, after the servers have answered their last request.
                services: (auditLog.map { [.init(service: $0)] } ?? []) + applications.map { .init(service: $0) }
                    + services.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// Opens the store a configuration names, for the maintenance commands.
    package static func openStore(_ configuration: WharfConfiguration, logger: Logger) throws -> Registry {
        try Registry(configuration: storageConfiguration(configuration), logger: logger)
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
            maxBlobBytes: configuration.maxBlobBytes > 0 ? configuration.maxBlobBytes : nil, encryption: encryption)
    }

    private static func build(_ configuration: WharfConfiguration, addresses: [String], logger: Logger) throws
        -> ([Application<WharfResponder>], [any Service], AuditLog?)
    {
        try configuration.validate()
        let registry = try openStore(configuration, logger: logger)
        let metrics = RegistryMetrics()
        var audit: RequestAudit?
        if configuration.audit.enabled {
            let log = try AuditLog(
                settings: configuration.audit.settings(directory: configuration.auditDirectory), logger: logger)
            audit = RequestAudit(log: log, proxies: try TrustedProxies(configuration.audit.trustedProxies), logger: logger)
        }
        let responder = WharfResponder(
            api: DistributionAPI(registry: registry, metrics: metrics),
            admin: AdminAPI(registry: registry, metrics: metrics, gcGrace: configuration.gcGrace), audit: audit,
            logger: logger)
        let applications = try addresses.map { address in
            let (host, port) = try WharfConfiguration.hostAndPort(address)
            return Application(
                responder: responder,
                configuration: .init(address: .hostname(host, port: port), serverName: "wharf"),
                logger: logger)
        }
        let purger = PeriodicService(name: "upload purge", interval: configuration.uploadPurgeInterval, logger: logger) {
            try await registry.purgeUploads(olderThan: configuration.uploadTTL)
        }
        let collector = PeriodicService(name: "garbage collection", interval: configuration.gcInterval, logger: logger) {
            metrics.recordGarbageCollection(try await registry.collectGarbage(grace: configuration.gcGrace, dryRun: false))
        }
        return (applications, [purger, collector], audit?.log)
    }
}
