import Foundation

/// A signed-in console session, as stored: the cookie's token is kept only as its SHA-256, so that whoever reads the
/// database cannot take the session over.
package struct ConsoleSessionRow: Sendable, Equatable {
    /// The identity's name and kind (`user`, `robot`, or `anonymous` before sign-in).
    package let identity: String
    package let kind: String
    /// The token every state-changing form of this session must carry back.
    package let csrf: String
    package let expires: Double

    package init(identity: String, kind: String, csrf: String, expires: Double) {
        self.identity = identity
        self.kind = kind
        self.csrf = csrf
        self.expires = expires
    }
}

extension MetadataStore {
    /// Stores a session, and drops the expired ones now and then (one insert in 64), so that the table follows the
    /// live sessions.
    package func createConsoleSession(tokenHash: String, _ session: ConsoleSessionRow) async throws {
        let now = Self.now
        try await database.write { db in
            if UInt8.random(in: 0..<64) == 0 {
                try db.execute("DELETE FROM console_sessions WHERE expires_at < ?", [now])
            }
            try db.execute(
                "INSERT INTO console_sessions(token_hash, identity, kind, csrf, expires_at) VALUES (?, ?, ?, ?, ?)",
                [tokenHash, session.identity, session.kind, session.csrf, session.expires])
        }
    }

    /// The session of a token's hash, unless it has expired.
    package func consoleSession(tokenHash: String) async throws -> ConsoleSessionRow? {
        let now = Self.now
        return try await database.read { db in
            try db.row(
                "SELECT identity, kind, csrf, expires_at FROM console_sessions WHERE token_hash = ? AND expires_at >= ?",
                [tokenHash, now]
            ).map { ConsoleSessionRow(identity: $0[0], kind: $0[1], csrf: $0[2], expires: $0[3]) }
        }
    }

    package func deleteConsoleSession(tokenHash: String) async throws {
        try await database.write { db in
            try db.execute("DELETE FROM console_sessions WHERE token_hash = ?", [tokenHash])
        }
    }
}
