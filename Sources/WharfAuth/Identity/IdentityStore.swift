import Crypto
import Foundation
import GRDB
import WharfCore
import WharfStorage

/// Wharf's own users and robot accounts: in `<auth dir>/identities.db` (SQLite) on a single server, or beside the
/// metadata in PostgreSQL, where every instance of a cluster sees the same ones. The CLI changes them while servers
/// run; each server rereads them at most once a second (`Authenticator`).
public final class IdentityStore: Sendable {
    public struct User: Sendable {
        public var name: String
        public var passwordHash: String
        /// Comma-separated group names.
        public var groups: String
        public var created: Int64
    }

    public struct Robot: Sendable {
        public var name: String
        /// SHA-256 of the secret, hex: the secret is 256 random bits, so a slow hash adds nothing.
        public var secretHash: String
        public var groups: String
        public var description: String
        public var created: Int64
        /// Seconds since 1970; nil for never.
        public var expires: Int64?
        public var disabled: Bool

        public func isActive(at now: Int64) -> Bool { !disabled && (expires.map { now < $0 } ?? true) }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private let database: any SQLDatabase

    /// The store on a database whose schema holds `users` and `robots` (PostgreSQL's, made by `wharf migrate`).
    package init(database: any SQLDatabase) { self.database = database }

    /// The single server's store, in `directory`.
    public convenience init(directory: String) throws {
        try FileSystem.makeDirectory(directory, mode: 0o700)
        self.init(database: try SQLiteDatabase(path: directory + "/identities.db", migrator: Self.migrator))
    }

    /// The SQLite schema. `IF NOT EXISTS`: files from before the migrator have the tables already.
    private static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS users (
                        name TEXT PRIMARY KEY NOT NULL, passwordHash TEXT NOT NULL, groups TEXT NOT NULL,
                        created INTEGER NOT NULL);
                    CREATE TABLE IF NOT EXISTS robots (
                        name TEXT PRIMARY KEY NOT NULL, secretHash TEXT NOT NULL, groups TEXT NOT NULL,
                        description TEXT NOT NULL, created INTEGER NOT NULL, expires INTEGER, disabled INTEGER NOT NULL);
                    """)
        }
        return migrator
    }()

    public func close() async throws { try await database.close() }

    public static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    // MARK: users

    public func addUser(_ name: String, password: String, groups: [String]) async throws {
        try Self.checkName(name, "user")
        try groups.forEach { try Self.checkName($0, "group") }
        let hash = try PasswordHash.bcrypt(password)
        let groups = groups.joined(separator: ",")
        try await change("user \(name) exists") { db in
            try db.execute(
                "INSERT INTO users(name, passwordHash, groups, created) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [name, hash, groups, Self.now()])
        }
    }

    public func setPassword(_ name: String, password: String) async throws {
        let hash = try PasswordHash.bcrypt(password)
        try await change("no user \(name)") { db in
            try db.execute("UPDATE users SET passwordHash = ? WHERE name = ?", [hash, name])
        }
    }

    public func removeUser(_ name: String) async throws {
        try await change("no user \(name)") { db in try db.execute("DELETE FROM users WHERE name = ?", [name]) }
    }

    public func users() async throws -> [User] {
        try await database.read { db in
            try db.rows("SELECT name, passwordHash, groups, created FROM users ORDER BY name").map { row in
                User(name: row[0], passwordHash: row[1], groups: row[2], created: row[3])
            }
        }
    }

    // MARK: robots

    /// Creates a robot account and returns its secret, which is stored only as a hash.
    public func addRobot(_ name: String, groups: [String], description: String, expires: Int64?) async throws -> String {
        try Self.checkName(name, "robot")
        try groups.forEach { try Self.checkName($0, "group") }
        let secret = "wharf_" + Data(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }).base64URL
        let row: SQLArguments = [
            name, Self.secretHash(secret), groups.joined(separator: ","), description, Self.now(), expires, false,
        ]
        try await change("robot \(name) exists") { db in
            try db.execute(
                """
                INSERT INTO robots(name, secretHash, groups, description, created, expires, disabled)
                VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                """, row)
        }
        return secret
    }

    public func setRobotDisabled(_ name: String, _ disabled: Bool) async throws {
        try await change("no robot \(name)") { db in
            try db.execute("UPDATE robots SET disabled = ? WHERE name = ?", [disabled, name])
        }
    }

    public func removeRobot(_ name: String) async throws {
        try await change("no robot \(name)") { db in try db.execute("DELETE FROM robots WHERE name = ?", [name]) }
    }

    public func robots() async throws -> [Robot] {
        try await database.read { db in
            try db.rows(
                "SELECT name, secretHash, groups, description, created, expires, disabled FROM robots ORDER BY name"
            ).map { row in
                Robot(
                    name: row[0], secretHash: row[1], groups: row[2], description: row[3], created: row[4],
                    expires: row[5], disabled: row[6])
            }
        }
    }

    static func secretHash(_ secret: String) -> String {
        Array(SHA256.hash(data: Array(secret.utf8))).hexString
    }

    /// Runs a statement that must change one row; `failure` says why it changed none.
    private func change(_ failure: String, _ statement: @escaping @Sendable (any SQLSession) throws -> Int)
        async throws
    {
        guard try await database.write(statement) > 0 else { throw Failure(description: failure) }
    }

    private static func checkName(_ name: String, _ what: String) throws {
        guard Identity.isValidName(name) else {
            throw Failure(description: "\(what) name '\(name)' must be 1 to 64 of a-z, 0-9, '.', '_', '-'")
        }
    }
}

extension Data {
    /// Base64 with the URL alphabet and no padding (RFC 4648 §5), as JWTs and secrets use it.
    var base64URL: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
