import Foundation
import GRDB
import WharfCore

/// What a manifest reference resolves to.
package struct ManifestRecord: Sendable, Equatable {
    package let digest: Digest
    package let mediaType: String
    package let size: Int64
}

/// The SQLite metadata store: repositories, blob links, manifests, tags, referrers and upload sessions.
///
/// WAL mode with `synchronous = FULL`: a transaction that returned is on disk, so whatever the registry
/// acknowledged survives a crash or power loss.
package final class MetadataStore: Sendable {
    let pool: DatabasePool

    package init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try MetadataSchema.migrator.migrate(pool)
    }

    static var now: Double { Date().timeIntervalSince1970 }

    /// A transaction committed without waiting for the disk, for bookkeeping whose loss costs only a repeat (which
    /// replication task is claimed or done). A killed process loses nothing (the WAL is in the page cache); a power
    /// cut may lose the latest such commits, and the next durable commit flushes them along with its own.
    func writeUnsynced<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await pool.writeWithoutTransaction { db in
            // SQLite refuses to change the safety level inside a transaction, so it is set around one.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            let result = Result {
                var value: T?
                try db.inTransaction {
                    value = try body(db)
                    return .commit
                }
                return value!
            }
            try db.execute(sql: "PRAGMA synchronous = FULL")
            return try result.get()
        }
    }

    // MARK: Repositories and blobs

    private func repositoryID(_ db: Database, _ name: RepositoryName) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT id FROM repositories WHERE name = ?", arguments: [name.value])
    }

    private func ensureRepository(_ db: Database, _ name: RepositoryName) throws -> Int64 {
        try db.execute(
            sql: "INSERT INTO repositories(name, created_at) VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
            arguments: [name.value, Self.now])
        return try repositoryID(db, name)!
    }

    private func link(_ db: Database, repository: Int64, digest: Digest, size: Int64) throws {
        try db.execute(
            sql: "INSERT INTO blobs(digest, size, created_at) VALUES (?, ?, ?) ON CONFLICT(digest) DO NOTHING",
            arguments: [digest.description, size, Self.now])
        try db.execute(
            sql: """
                INSERT INTO repository_blobs(repository_id, digest, created_at) VALUES (?, ?, ?)
                ON CONFLICT DO NOTHING
                """,
            arguments: [repository, digest.description, Self.now])
    }

    /// The repositories that may read `digest`, by name, at most `limit` of them.
    package func repositories(linking digest: Digest, limit: Int) async throws -> [String] {
        try await pool.read { db in
            try String.fetchAll(
                db,
                sql: """
                    SELECT r.name FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
                    WHERE rb.digest = ? ORDER BY r.name LIMIT ?
                    """, arguments: [digest.description, limit])
        }
    }

    /// The size of `digest` when the repository may read it.
    package func linkedBlobSize(_ repository: RepositoryName, _ digest: Digest) async throws -> Int64? {
        try await pool.read { db in
            // Cached statements on the hot read paths: SQLite then parses each query once per connection.
            try Int64.fetchOne(
                db.cachedStatement(
                    sql: """
                        SELECT b.size FROM blobs b
                        JOIN repository_blobs l ON l.digest = b.digest
                        JOIN repositories r ON r.id = l.repository_id
                        WHERE r.name = ? AND b.digest = ?
                        """),
                arguments: [repository.value, digest.description])
        }
    }

    /// Records a committed blob and lets the repository read it.
    package func linkBlob(_ repository: RepositoryName, _ digest: Digest, size: Int64) async throws {
        try await pool.write { db in
            try self.link(db, repository: try self.ensureRepository(db, repository), digest: digest, size: size)
        }
    }

    /// Withdraws the repository's right to read the blob; the content stays until garbage collection.
    package func unlinkBlob(_ repository: RepositoryName, _ digest: Digest) async throws -> Bool {
        try await pool.write { db in
            guard let id = try self.repositoryID(db, repository) else { return false }
            try db.execute(
                sql: "DELETE FROM repository_blobs WHERE repository_id = ? AND digest = ?",
                arguments: [id, digest.description])
            return db.changesCount > 0
        }
    }

    /// Forgets a blob whose content is gone: its row, every repository's link, manifests stored as it (with their
    /// tags and references), and its piece lists.
    package func deleteBlobRows(_ digest: Digest) async throws {
        try await pool.write { db in
            for table in ["manifests", "repository_blobs", "blobs", "p2p_piece_lists"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE digest = ?", arguments: [digest.description])
            }
        }
    }

    /// Blobs no manifest is or references, stored and last linked before `cutoff` (seconds since 1970).
    package func unreferencedBlobs(before cutoff: Double) async throws -> [(digest: String, size: Int64)] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT b.digest, b.size FROM blobs b
                    WHERE b.created_at < :cutoff
                      AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.referenced_digest = b.digest)
                      AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest)
                      AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = b.digest AND l.created_at >= :cutoff)
                    ORDER BY b.digest
                    """,
                arguments: ["cutoff": cutoff]
            ).map { (digest: $0[0] as String, size: $0[1] as Int64) }
        }
    }

    package func blobStatistics() async throws -> (count: Int64, bytes: Int64) {
        try await pool.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT count(*), coalesce(sum(size), 0) FROM blobs")!
            return (row[0], row[1])
        }
    }

    // MARK: Manifests

    /// Stores a manifest, its blob links, references, referrer entry and tags in one transaction, after checking
    /// that everything it references is readable in the repository.
    package func putManifest(
        _ repository: RepositoryName, digest: Digest, size: Int64, manifest: Manifest, tags: [Tag],
        chart: ChartRecord? = nil, outbox: OutboxContext? = nil
    ) async throws {
        try await pool.write { db in
            let id = try self.ensureRepository(db, repository)
            var moved: [(tag: String, previous: String?)] = []
            for blob in manifest.blobDigests {
                let known = try Bool.fetchOne(
                    db, sql: "SELECT 1 FROM repository_blobs WHERE repository_id = ? AND digest = ?",
                    arguments: [id, blob.description])
                guard known == true else { throw RegistryError.manifestBlobUnknown(blob.description) }
            }
            for child in manifest.childDigests {
                let known = try Bool.fetchOne(
                    db, sql: "SELECT 1 FROM manifests WHERE repository_id = ? AND digest = ?",
                    arguments: [id, child.description])
                // The spec: a missing child "MUST result in one or more MANIFEST_BLOB_UNKNOWN errors".
                guard known == true else { throw RegistryError.manifestBlobUnknown(child.description) }
            }
            try self.link(db, repository: id, digest: digest, size: size)
            try db.execute(
                sql: """
                    INSERT INTO manifests(repository_id, digest, media_type, size, artifact_type, subject, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                    """,
                arguments: [
                    id, digest.description, manifest.mediaType, size, manifest.artifactType,
                    manifest.subjectDigest?.description, Self.now,
                ])
            if let chart { try self.record(chart, repository: id, db) }
            for referenced in manifest.blobDigests + manifest.childDigests {
                try db.execute(
                    sql: """
                        INSERT INTO manifest_references(repository_id, manifest_digest, referenced_digest)
                        VALUES (?, ?, ?) ON CONFLICT DO NOTHING
                        """,
                    arguments: [id, digest.description, referenced.description])
            }
            for tag in tags {
                if outbox != nil {
                    let previous = try String.fetchOne(
                        db, sql: "SELECT digest FROM tags WHERE repository_id = ? AND name = ?", arguments: [id, tag.value])
                    moved.append((tag.value, previous))
                }
                try db.execute(
                    sql: """
                        INSERT INTO tags(repository_id, name, digest, updated_at) VALUES (?, ?, ?, ?)
                        ON CONFLICT(repository_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at
                        """,
                    arguments: [id, tag.value, digest.description, Self.now])
            }
            if let outbox {
                let change = RegistryChange(
                    repository: repository,
                    kind: .manifestPushed(digest: digest, tags: moved, subject: manifest.subjectDigest), origin: outbox.origin)
                try self.queue(outbox.plan(change), db, sourceTime: Self.now)
            }
        }
    }

    package func manifest(_ repository: RepositoryName, _ reference: Reference) async throws -> ManifestRecord? {
        // The closure returns a Sendable value, so that GRDB's async read (which never blocks a
        // cooperative thread while waiting for a reader) is the overload chosen.
        try await pool.read { db -> ManifestRecord? in
            let row: Row?
            switch reference {
            case .digest(let digest):
                row = try Row.fetchOne(
                    db.cachedStatement(
                        sql: """
                            SELECT m.digest, m.media_type, m.size FROM manifests m JOIN repositories r ON r.id = m.repository_id
                            WHERE r.name = ? AND m.digest = ?
                            """),
                    arguments: [repository.value, digest.description])
            case .tag(let tag):
                row = try Row.fetchOne(
                    db.cachedStatement(
                        sql: """
                            SELECT m.digest, m.media_type, m.size FROM tags t
                            JOIN repositories r ON r.id = t.repository_id
                            JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
                            WHERE r.name = ? AND t.name = ?
                            """),
                    arguments: [repository.value, tag.value])
            }
            guard let row else { return nil }
            return ManifestRecord(digest: try Digest(row[0] as String), mediaType: row[1], size: row[2])
        }
    }

    /// Deletes a manifest and every tag pointing at it. False when the repository has no such manifest.
    package func deleteManifest(_ repository: RepositoryName, _ digest: Digest, outbox: OutboxContext? = nil)
        async throws -> Bool
    {
        try await pool.write { db in
            guard let id = try self.repositoryID(db, repository) else { return false }
            try db.execute(
                sql: "DELETE FROM manifests WHERE repository_id = ? AND digest = ?", arguments: [id, digest.description])
            guard db.changesCount > 0 else { return false }
            if let outbox {
                let change = RegistryChange(repository: repository, kind: .manifestDeleted(digest: digest), origin: outbox.origin)
                try self.queue(outbox.plan(change), db, sourceTime: Self.now)
            }
            return true
        }
    }

    /// The digest the tag pointed to; nil when there was no such tag.
    package func deleteTag(_ repository: RepositoryName, _ tag: Tag, outbox: OutboxContext? = nil) async throws -> String? {
        try await pool.write { db in
            guard let id = try self.repositoryID(db, repository) else { return nil }
            let digest = try String.fetchOne(
                db, sql: "DELETE FROM tags WHERE repository_id = ? AND name = ? RETURNING digest", arguments: [id, tag.value])
            if let outbox, let digest {
                let change = RegistryChange(
                    repository: repository, kind: .tagDeleted(tag: tag.value, digest: digest), origin: outbox.origin)
                try self.queue(outbox.plan(change), db, sourceTime: Self.now)
            }
            return digest
        }
    }

    /// Tags in lexical order after `last`, at most `limit`; nil when the repository does not exist.
    package func tags(_ repository: RepositoryName, after last: String?, limit: Int?) async throws -> [String]? {
        try await pool.read { db in
            guard let id = try self.repositoryID(db, repository) else { return nil }
            return try String.fetchAll(
                db,
                sql: "SELECT name FROM tags WHERE repository_id = ? AND name > ? ORDER BY name LIMIT ?",
                arguments: [id, last ?? "", limit ?? -1])
        }
    }

    package func repositories(after last: String?, limit: Int?) async throws -> [String] {
        try await pool.read { db in
            try String.fetchAll(
                db, sql: "SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?",
                arguments: [last ?? "", limit ?? -1])
        }
    }

    /// Manifests of the repository whose `subject` is `digest`, optionally of one artifact type. Their
    /// annotations are manifest content, which the database does not hold: the caller reads them from the blobs.
    package func referrers(_ repository: RepositoryName, of digest: Digest, artifactType: String?) async throws
        -> [Descriptor]
    {
        try await pool.read { db in
            var sql = """
                SELECT m.digest, m.media_type, m.size, m.artifact_type FROM manifests m
                JOIN repositories r ON r.id = m.repository_id
                WHERE r.name = ? AND m.subject = ?
                """
            var arguments: StatementArguments = [repository.value, digest.description]
            if let artifactType {
                sql += " AND m.artifact_type = ?"
                arguments += [artifactType]
            }
            sql += " ORDER BY m.created_at, m.digest"
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                Descriptor(mediaType: row[1], digest: row[0], size: row[2], artifactType: row[3], annotations: nil)
            }
        }
    }

    // MARK: Master keys

    /// The master keys in use (synchronous: the store checks them while it opens).
    package func masterKeyIDs() throws -> [String] {
        try pool.read { db in try String.fetchAll(db, sql: "SELECT id FROM master_keys ORDER BY id") }
    }

    package func recordMasterKey(_ id: String) throws {
        try pool.write { db in
            try db.execute(
                sql: "INSERT INTO master_keys(id, added_at) VALUES (?, ?) ON CONFLICT DO NOTHING", arguments: [id, Self.now])
        }
    }

    package func forgetMasterKey(_ id: String) async throws {
        try await pool.write { db in try db.execute(sql: "DELETE FROM master_keys WHERE id = ?", arguments: [id]) }
    }

    // MARK: Upload sessions

    package func insertUpload(id: String, repository: RepositoryName, encrypted: Bool) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO uploads(id, repository, encrypted, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [id, repository.value, encrypted, Self.now, Self.now])
        }
    }

    /// The repository of an upload session and whether its file is encrypted.
    package func upload(id: String) async throws -> (repository: String, encrypted: Bool)? {
        try await pool.read { db -> (repository: String, encrypted: Bool)? in
            try Row.fetchOne(db, sql: "SELECT repository, encrypted FROM uploads WHERE id = ?", arguments: [id])
                .map { (repository: $0[0], encrypted: $0[1]) }
        }
    }

    /// Every encrypted upload session, for key rotation and status.
    package func uploadIDs() async throws -> [String] {
        try await pool.read { db in try String.fetchAll(db, sql: "SELECT id FROM uploads WHERE encrypted ORDER BY id") }
    }

    /// Calls `body` with every blob row's digest and size, in digest order, reading a page at a time.
    package func forEachBlob(_ body: (String, Int64) async throws -> Void) async throws {
        var last = ""
        while true {
            let page = try await blobs(after: last, limit: 500)
            for (digest, size) in page { try await body(digest, size) }
            guard let next = page.last?.digest else { return }
            last = next
        }
    }

    private func blobs(after last: String, limit: Int) async throws -> [(digest: String, size: Int64)] {
        try await pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT digest, size FROM blobs WHERE digest > ? ORDER BY digest LIMIT ?",
                arguments: [last, limit]
            ).map { (digest: $0[0] as String, size: $0[1] as Int64) }
        }
    }

    /// Which of `digests` have a blob row.
    package func knownBlobs(among digests: [Digest]) async throws -> Set<Digest> {
        var known = Set<Digest>()
        for start in stride(from: 0, to: digests.count, by: 500) {
            let batch = digests[start..<min(start + 500, digests.count)].map(\.description)
            let found = try await pool.read { db in
                try String.fetchAll(
                    db, sql: "SELECT digest FROM blobs WHERE digest IN (\(databaseQuestionMarks(count: batch.count)))",
                    arguments: StatementArguments(batch))
            }
            known.formUnion(found.compactMap { try? Digest($0) })
        }
        return known
    }

    /// Every upload session's id, encrypted or not.
    package func allUploadIDs() async throws -> Set<String> {
        try await pool.read { db in Set(try String.fetchAll(db, sql: "SELECT id FROM uploads")) }
    }

    package func deleteUpload(id: String) async throws {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM uploads WHERE id = ?", arguments: [id])
        }
    }

    /// Commits a finished upload: the blob row, the repository's link, and the end of the session, together.
    package func finishUpload(id: String, _ repository: RepositoryName, _ digest: Digest, size: Int64) async throws {
        try await pool.write { db in
            try self.link(db, repository: try self.ensureRepository(db, repository), digest: digest, size: size)
            try db.execute(sql: "DELETE FROM uploads WHERE id = ?", arguments: [id])
        }
    }
}
