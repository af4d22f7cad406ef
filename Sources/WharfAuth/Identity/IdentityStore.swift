import Crypto
import Foundation
import GRDB
import WharfCore
import WharfStorage

/// Wharf's own users and robot accounts, in `<auth dir>/identities.db` (SQLite). The CLI changes it while the
/// server runs; the server rereads it at most once a second (`IdentityDirectory`).
public final class IdentityStore: Sendable {
    public struct User: Sendable, Codable, FetchableRecord, PersistableRecord {
        public static let databaseTableName = "users"
        public var name: String
        public var passwordHash: String
        /// Comma-separated group names.
        public var groups: String
        public var created: Int64
    }

    public struct Robot: Sendable, Codable, FetchableRecord, PersistableRecord {
        public static let databaseTableName = "robots"
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

    private let database: DatabaseQueue

    public init(directory: String) throws {
        try FileSystem.makeDirectory(directory, mode: 0o700)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        database = try DatabaseQueue(path: directory + "/identities.db", configuration: configuration)
        try database.write { db in
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
    }

    public static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    // MARK: users

    public func addUser(_ name: String, password: String, groups: [String]) throws {
        try Self.checkName(name, "user")
        try groups.forEach { try Self.checkName($0, "group") }
        let user = User(
            name: name, passwordHash: try PasswordHash.bcrypt(password), groups: groups.joined(separator: ","),
            created: Self.now())
        try database.write { db in
            guard try User.fetchOne(db, key: name) == nil else { throw Failure(description: "user \(name) exists") }
            try user.insert(db)
        }
    }

    public func setPassword(_ name: String, password: String) throws {
        let hash = try PasswordHash.bcrypt(password)
        try database.write { db in
            guard var user = try User.fetchOne(db, key: name) else { throw Failure(description: "no user \(name)") }
            user.passwordHash = hash
            try user.update(db)
        }
    }

    public func removeUser(_ name: String) throws {
        guard try database.write({ db in try User.deleteOne(db, key: name) }) else {
            throw Failure(description: "no user \(name)")
        }
    }

    public func users() throws -> [User] {
        try database.read { db in try User.order(Column("name")).fetchAll(db) }
    }

    // MARK: robots

    /// Creates a robot account and returns its secret, which is stored only as a hash.
    public func addRobot(_ name: String, groups: [String], description: String, expires: Int64?) throws -> String {
        try Self.checkName(name, "robot")
        try groups.forEach { try Self.checkName($0, "group") }
        let secret = "wharf_" + Data(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }).base64URL
        let robot = Robot(
            name: name, secretHash: Self.secretHash(secret), groups: groups.joined(separator: ","),
            description: description, created: Self.now(), expires: expires, disabled: false)
        try database.write { db in
            guard try Robot.fetchOne(db, key: name) == nil else { throw Failure(description: "robot \(name) exists") }
            try robot.insert(db)
        }
        return secret
    }

    public func setRobotDisabled(_ name: String, _ disabled: Bool) throws {
        try database.write { db in
            guard var robot = try Robot.fetchOne(db, key: name) else { throw Failure(description: "no robot \(name)") }
            robot.disabled = disabled
            try robot.update(db)
        }
    }

    public func removeRobot(_ name: String) throws {
        guard try database.write({ db in try Robot.deleteOne(db, key: name) }) else {
            throw Failure(description: "no robot \(name)")
        }
    }

    public func robots() throws -> [Robot] {
        try database.read { db in try Robot.order(Column("name")).fetchAll(db) }
    }

    static func secretHash(_ secret: String) -> String {
        Array(SHA256.hash(data: Array(secret.utf8))).hexString
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
