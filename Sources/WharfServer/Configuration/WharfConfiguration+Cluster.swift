import Logging
import WharfStorage

extension WharfConfiguration {
    /// For the CLI: the cluster's PostgreSQL database (`metadata.driver: postgres`), on one connection of its own and
    /// after checking its schema; nil for a single server, whose state is in its data directory.
    package func clusterDatabase(logger: Logger) throws -> PostgreSQLDatabase? {
        guard var settings = metadata.postgres else { return nil }
        settings.connections = 1
        let database = try PostgreSQLDatabase(settings: settings, logger: logger)
        try PostgreSQLSchema.check(database)
        return database
    }
}
