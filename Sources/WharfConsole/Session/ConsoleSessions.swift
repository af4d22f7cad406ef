import Crypto
import Foundation
import WharfCore
import WharfStorage

/// The console's sessions. A visitor gets one at the first page, before signing in, so that the sign-in form carries a
/// CSRF token too; signing in replaces it with a new one (a token seen before sign-in is worth nothing after). The
/// cookie holds a random token; the metadata store holds its SHA-256, so every instance of a cluster knows it.
package struct ConsoleSessions: Sendable {
    package struct Session: Sendable, Equatable {
        /// The cookie's value.
        package let token: String
        package let row: ConsoleSessionRow
    }

    let metadata: MetadataStore
    /// A session ends this long after it began, signed in or not.
    package let lifetime: Double

    package init(metadata: MetadataStore, lifetime: Double = 12 * 3600) {
        self.metadata = metadata
        self.lifetime = lifetime
    }

    /// A new session of `identity` (`anonymous` before sign-in).
    package func start(identity: String, kind: String) async throws -> Session {
        let token = Self.randomHex()
        let row = ConsoleSessionRow(
            identity: identity, kind: kind, csrf: Self.randomHex(), expires: Date().timeIntervalSince1970 + lifetime)
        try await metadata.createConsoleSession(tokenHash: Self.hash(token), row)
        return Session(token: token, row: row)
    }

    /// The live session a cookie's token names; nil for an unknown, ended or expired one.
    package func find(token: String) async throws -> Session? {
        guard token.utf8.count == 64 else { return nil }
        return try await metadata.consoleSession(tokenHash: Self.hash(token)).map { Session(token: token, row: $0) }
    }

    package func end(_ session: Session) async throws {
        try await metadata.deleteConsoleSession(tokenHash: Self.hash(session.token))
    }

    /// Whether a form's token is the session's, compared in time that does not depend on where they differ.
    package static func csrfMatches(_ sent: String?, _ session: Session) -> Bool {
        guard let sent else { return false }
        let expected = Array(session.row.csrf.utf8)
        let given = Array(sent.utf8)
        guard given.count == expected.count else { return false }
        return zip(given, expected).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    static func hash(_ token: String) -> String { Array(SHA256.hash(data: Array(token.utf8))).hexString }

    /// 256 random bits as 64 hex digits.
    static func randomHex() -> String { SymmetricKey(size: .bits256).withUnsafeBytes { $0.hexString } }
}
