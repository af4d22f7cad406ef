import Logging
import WharfAuth
import WharfStorage

/// Where users, robots and token signing keys are kept: with the metadata in PostgreSQL, where every instance of a
/// cluster reads the same ones, or in the auth directory of a single server.
package struct IdentityStorage: Sendable {
    package let identities: IdentityStore
    package let signingKeys: any SigningKeyStore

    /// The server's: on PostgreSQL, the registry's own connections.
    init(_ configuration: WharfConfiguration, registry: Registry) throws {
        if registry.metadata.database.dialect == .postgres {
            self.init(database: registry.metadata.database)
        } else {
            try self.init(directory: configuration.authDirectory)
        }
    }

    /// The CLI's, with a connection of its own on PostgreSQL.
    package static func open(_ configuration: WharfConfiguration, logger: Logger) throws -> IdentityStorage {
        guard let database = try configuration.clusterDatabase(logger: logger) else {
            return try IdentityStorage(directory: configuration.authDirectory)
        }
        return IdentityStorage(database: database)
    }

    private init(database: any SQLDatabase) {
        identities = IdentityStore(database: database)
        signingKeys = SigningKeyTable(database: database)
    }

    private init(directory: String) throws {
        identities = try IdentityStore(directory: directory)
        signingKeys = SigningKeys(path: directory + "/token-keys")
    }
}
