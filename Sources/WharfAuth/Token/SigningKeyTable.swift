import WharfStorage

/// Token signing keys in the cluster's PostgreSQL database (`signing_keys`, made by `wharf migrate`), so that a
/// token one instance signs verifies on every other. The rows hold private keys: the database is to be guarded as
/// the key directory is on a single server.
public struct SigningKeyTable: SigningKeyStore {
    private let database: any SQLDatabase

    package init(database: any SQLDatabase) { self.database = database }

    public var location: String { "the metadata database" }

    public func load() async throws -> (keys: [SigningKeys.Key], active: String)? {
        let rows = try await database.read { db in
            try db.rows("SELECT id, algorithm, pem, active FROM signing_keys ORDER BY id")
        }
        guard !rows.isEmpty else { return nil }
        let keys = try rows.map { row in
            guard let algorithm = SigningKeys.Algorithm(rawValue: row[1]) else {
                throw SigningKeys.Failure(description: "signing key \(row[0] as String) has an unknown algorithm")
            }
            return SigningKeys.Key(id: row[0], algorithm: algorithm, pem: row[2])
        }
        guard let active = rows.first(where: { $0[3] == true }).map({ $0[0] as String }) else {
            throw SigningKeys.Failure(description: "no signing key in \(location) is active")
        }
        return (keys, active)
    }

    public func ensureKey(_ algorithm: SigningKeys.Algorithm) async throws -> String? {
        let (id, pem) = try SigningKeys.generate(algorithm)
        // Serializable: of instances that start together and find no key, one inserts and the others retry and see it.
        return try await database.write { db in
            guard try db.value("SELECT count(*) FROM signing_keys") == Int64(0) else { return nil }
            try Self.insertActive(id, algorithm, pem, db)
            return id
        }
    }

    @discardableResult
    public func addActiveKey(_ algorithm: SigningKeys.Algorithm) async throws -> String {
        let (id, pem) = try SigningKeys.generate(algorithm)
        try await database.write { db in
            try db.execute("UPDATE signing_keys SET active = false")
            try Self.insertActive(id, algorithm, pem, db)
        }
        return id
    }

    public func retire(_ id: String) async throws {
        try await database.write { db in
            guard let active: Bool = try db.value("SELECT active FROM signing_keys WHERE id = ?", [id]) else {
                throw SigningKeys.Failure(description: "no signing key \(id) in \(location)")
            }
            guard !active else {
                throw SigningKeys.Failure(description: "key \(id) is the active key; add a new one first")
            }
            try db.execute("DELETE FROM signing_keys WHERE id = ?", [id])
        }
    }

    private static func insertActive(
        _ id: String, _ algorithm: SigningKeys.Algorithm, _ pem: String, _ db: any SQLSession
    ) throws {
        try db.execute(
            "INSERT INTO signing_keys(id, algorithm, pem, active) VALUES (?, ?, ?, true)", [id, algorithm.rawValue, pem])
    }
}
