import Foundation
import WharfStorage

/// Where repositories, manifests, tags and upload sessions are recorded: the data directory's SQLite file (the
/// default), or a PostgreSQL database shared by every instance of a cluster, whose schema `wharf migrate` makes:
///
///     metadata:
///       driver: postgres                    # or sqlite (the default)
///       postgres:
///         url: postgres://wharf:…@db.example:5432/wharf?sslmode=require   # or the fields below
///         host: db.example
///         port: 5432
///         database: wharf
///         user: wharf
///         password: …                       # or WHARF_POSTGRES_PASSWORD, PGPASSWORD
///         tls: require                      # disable, prefer or require (default disable)
///         caFile: /etc/wharf/pg-ca.pem      # the certificates to trust, else the system's
///         connections: 8                    # per instance, which is also its transactions at once
public struct MetadataOptions: Sendable, Equatable {
    public enum Driver: String, Sendable, Equatable { case sqlite, postgres }

    public var driver = Driver.sqlite
    public var host = "localhost"
    public var port = 5432
    public var database = "wharf"
    public var user = "wharf"
    public var password: String?
    public var tls = "disable"
    public var caFile: String?
    public var connections = 8

    public init() {}

    struct File: Decodable {
        struct Postgres: Decodable {
            var url: String?
            var host: String?
            var port: Int?
            var database: String?
            var user: String?
            var password: String?
            var tls: String?
            var caFile: String?
            var connections: Int?
        }
        var driver: String?
        var postgres: Postgres?
    }

    mutating func apply(_ file: File) throws {
        if let driver = file.driver { self.driver = try Self.driver(driver, "metadata.driver") }
        guard let postgres = file.postgres else { return }
        if let url = postgres.url { try apply(url: url, "metadata.postgres.url") }
        if let host = postgres.host { self.host = host }
        if let port = postgres.port { self.port = port }
        if let database = postgres.database { self.database = database }
        if let user = postgres.user { self.user = user }
        if let password = postgres.password { self.password = password }
        if let tls = postgres.tls { self.tls = tls }
        if let path = postgres.caFile { caFile = path }
        if let connections = postgres.connections { self.connections = connections }
    }

    /// `WHARF_METADATA_DRIVER`, `WHARF_POSTGRES_URL`, then `WHARF_POSTGRES_HOST`, `_PORT`, `_DATABASE`, `_USER`,
    /// `_PASSWORD` (else `PGPASSWORD`), `_TLS`, `_CA_FILE` and `_CONNECTIONS`, each over the URL's part.
    mutating func apply(environment: [String: String]) throws {
        if let driver = environment["WHARF_METADATA_DRIVER"] {
            self.driver = try Self.driver(driver, "WHARF_METADATA_DRIVER")
        }
        if let url = environment["WHARF_POSTGRES_URL"] { try apply(url: url, "WHARF_POSTGRES_URL") }
        if let host = environment["WHARF_POSTGRES_HOST"] { self.host = host }
        if let port = environment["WHARF_POSTGRES_PORT"] {
            guard let value = Int(port) else { throw invalid("WHARF_POSTGRES_PORT: not a number") }
            self.port = value
        }
        if let database = environment["WHARF_POSTGRES_DATABASE"] { self.database = database }
        if let user = environment["WHARF_POSTGRES_USER"] { self.user = user }
        if let password = environment["WHARF_POSTGRES_PASSWORD"] ?? environment["PGPASSWORD"] {
            self.password = password
        }
        if let tls = environment["WHARF_POSTGRES_TLS"] { self.tls = tls }
        if let path = environment["WHARF_POSTGRES_CA_FILE"] { caFile = path }
        if let connections = environment["WHARF_POSTGRES_CONNECTIONS"] {
            guard let value = Int(connections) else { throw invalid("WHARF_POSTGRES_CONNECTIONS: not a number") }
            self.connections = value
        }
    }

    /// `postgres://user:password@host:port/database?sslmode=…`, as libpq writes it; what it leaves out stays as is.
    private mutating func apply(url text: String, _ field: String) throws {
        guard let url = URLComponents(string: text), url.scheme == "postgres" || url.scheme == "postgresql" else {
            throw invalid("\(field): not a postgres:// URL")
        }
        if let host = url.host, !host.isEmpty { self.host = host }
        if let port = url.port { self.port = port }
        if let user = url.user { self.user = user.removingPercentEncoding ?? user }
        if let password = url.password { self.password = password.removingPercentEncoding ?? password }
        let path = url.path.drop { $0 == "/" }
        if !path.isEmpty { database = String(path) }
        for item in url.queryItems ?? [] {
            switch (item.name, item.value) {
            case ("sslmode", let mode?):
                // libpq's verify-ca and verify-full verify as `require` does here: always the certificate and name.
                tls = mode.hasPrefix("verify") ? "require" : mode == "allow" ? "prefer" : mode
            case ("sslrootcert", let path?): caFile = path
            default: throw invalid("\(field): parameter '\(item.name)' is not sslmode or sslrootcert")
            }
        }
    }

    func validate() throws {
        guard driver == .postgres else { return }
        guard PostgreSQLSettings.TLSMode(rawValue: tls) != nil else {
            throw invalid("metadata.postgres.tls: '\(tls)' is not disable, prefer or require")
        }
        guard !host.isEmpty, !database.isEmpty, !user.isEmpty else {
            throw invalid("metadata.postgres needs host, database and user")
        }
        guard (1...65535).contains(port) else { throw invalid("metadata.postgres.port: not a port") }
        guard (1...256).contains(connections) else { throw invalid("metadata.postgres.connections: 1 to 256") }
    }

    /// The PostgreSQL settings; nil for the data directory's SQLite file.
    var postgres: PostgreSQLSettings? {
        guard driver == .postgres, let tls = PostgreSQLSettings.TLSMode(rawValue: tls) else { return nil }
        return PostgreSQLSettings(
            host: host, port: port, database: database, user: user, password: password, tls: tls, caFile: caFile,
            connections: connections)
    }

    private static func driver(_ text: String, _ field: String) throws -> Driver {
        guard let driver = Driver(rawValue: text) else { throw invalid("\(field): '\(text)' is not sqlite or postgres") }
        return driver
    }
}

private func invalid(_ description: String) -> WharfConfiguration.Invalid {
    WharfConfiguration.Invalid(description: description)
}
