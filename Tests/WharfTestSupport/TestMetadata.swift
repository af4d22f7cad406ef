import Foundation
import Logging
import Synchronization
import WharfStorage

/// The metadata database the tests open registries on: the data directory's SQLite file, or with
/// `WHARF_TEST_METADATA=postgres` a new database on the PostgreSQL server at `WHARF_TEST_POSTGRES` (a superuser's
/// postgres:// URL; scripts/pg-server.sh starts one), migrated as `wharf migrate` does. The test command runs the
/// registry suites both ways.
package enum TestMetadata {
    package static var onPostgres: Bool { ProcessInfo.processInfo.environment["WHARF_TEST_METADATA"] == "postgres" }

    /// A new, migrated database on PostgreSQL when the tests run there; nil for SQLite.
    package static func newDatabase() throws -> PostgreSQLSettings? {
        guard onPostgres else { return nil }
        guard let url = ProcessInfo.processInfo.environment["WHARF_TEST_POSTGRES"],
            let parts = URLComponents(string: url), let host = parts.host, let user = parts.user
        else { throw Unusable(description: "WHARF_TEST_METADATA=postgres needs WHARF_TEST_POSTGRES, a postgres:// URL") }
        let name = "test_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))"
        var server = parts
        server.path = "/postgres"
        try psql(server.string ?? url, "CREATE DATABASE \(name)")
        let settings = PostgreSQLSettings(
            host: host, port: parts.port ?? 5432, database: name, user: user, password: parts.password, connections: 4)
        try PostgreSQLSchema.migrate(try PostgreSQLDatabase(settings: settings, logger: Logger(label: "test")))
        return settings
    }

    /// The database of a test's data directory, made the first time it is asked for, so that a registry opened
    /// again on the directory finds what the last one wrote; nil on SQLite.
    package static func database(for directory: String) throws -> PostgreSQLSettings? {
        try databases.withLock { databases in
            if let known = databases[directory] { return known }
            let settings = try newDatabase()
            databases[directory] = settings
            return settings
        }
    }

    private static let databases = Mutex<[String: PostgreSQLSettings?]>([:])

    /// Runs `sql` with psql on the database at `url`.
    private static func psql(_ url: String, _ sql: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        process.arguments = ["-qAt", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw Unusable(description: "psql failed: \(sql)") }
    }

    struct Unusable: Error, CustomStringConvertible {
        let description: String
    }
}
