import WharfCore

/// Upload sessions whose state lives in their row (sessions on object storage): written by whichever instance holds
/// the session's claim, a lease that a killed instance's request gives up by running out.
extension MetadataStore {
    package func insertUpload(id: String, repository: RepositoryName, encrypted: Bool, state: String) async throws {
        try await database.write { db in
            try db.execute(
                "INSERT INTO uploads(id, repository, encrypted, state, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                [id, repository.value, encrypted, state, Self.now, Self.now])
        }
    }

    /// The session's state, when it belongs to `repository`.
    package func uploadState(id: String, repository: RepositoryName) async throws -> String? {
        try await database.read { db in
            try db.value("SELECT state FROM uploads WHERE id = ? AND repository = ?", [id, repository.value])
        }
    }

    /// The session's repository and state, whichever repository it belongs to (maintenance: key rotation).
    package func uploadState(id: String) async throws -> (repository: String, state: String)? {
        try await database.read { db in
            try db.row("SELECT repository, state FROM uploads WHERE id = ? AND state IS NOT NULL", [id])
                .map { (repository: $0[0], state: $0[1]) }
        }
    }

    package enum UploadClaim: Sendable {
        case claimed(state: String)
        /// Another request holds the session.
        case busy
        case unknown
    }

    /// Claims the session for `seconds`, unless a live claim holds it.
    package func claimUpload(id: String, repository: RepositoryName, for seconds: Double) async throws -> UploadClaim {
        try await database.write { db in
            let now = Self.now
            let state: String? = try db.value(
                """
                UPDATE uploads SET claimed_until = ? WHERE id = ? AND repository = ? AND state IS NOT NULL
                AND (claimed_until IS NULL OR claimed_until < ?) RETURNING state
                """, [now + seconds, id, repository.value, now])
            if let state { return .claimed(state: state) }
            let exists: Bool? = try db.value("SELECT true FROM uploads WHERE id = ? AND repository = ?", [id, repository.value])
            return exists == true ? .busy : .unknown
        }
    }

    /// Extends a claim held by a long request.
    package func renewUploadClaim(id: String, for seconds: Double) async throws {
        try await database.write { db in
            try db.execute("UPDATE uploads SET claimed_until = ? WHERE id = ?", [Self.now + seconds, id])
        }
    }

    /// Saves the state a request leaves and gives up its claim; with no state, only gives it up.
    package func releaseUpload(id: String, state: String?) async throws {
        try await database.write { db in
            if let state {
                try db.execute(
                    "UPDATE uploads SET state = ?, updated_at = ?, claimed_until = NULL WHERE id = ?", [state, Self.now, id])
            } else {
                try db.execute("UPDATE uploads SET claimed_until = NULL WHERE id = ?", [id])
            }
        }
    }

    /// Sessions with state, untouched since `cutoff` and not claimed now.
    package func staleUploads(before cutoff: Double) async throws -> [(id: String, state: String)] {
        try await database.read { db in
            try db.rows(
                """
                SELECT id, state FROM uploads WHERE state IS NOT NULL AND updated_at < ?
                AND (claimed_until IS NULL OR claimed_until < ?)
                """, [cutoff, Self.now]
            ).map { (id: $0[0], state: $0[1]) }
        }
    }

    /// Every session with state, by id.
    package func uploadStates() async throws -> [String: String] {
        try await database.read { db in
            Dictionary(
                uniqueKeysWithValues: try db.rows("SELECT id, state FROM uploads WHERE state IS NOT NULL")
                    .map { ($0[0] as String, $0[1] as String) })
        }
    }
}
