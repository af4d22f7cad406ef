import Foundation
import Logging
import WharfCore

/// What a manifest reference resolves to.
package struct ManifestRecord: Sendable, Equatable {
    package let digest: Digest
    package let mediaType: String
    package let size: Int64
}

/// The metadata store: repositories, blob links, manifests, tags, referrers and upload sessions, with the same
/// schema and transactions on SQLite (the data directory's `wharf.db`) and on PostgreSQL (a cluster's).
package final class MetadataStore: Sendable {
    package let database: any SQLDatabase
    /// Tag and digest resolutions answered from memory; nil on PostgreSQL, whose other writers it would not see.
    let references: ReferenceCache?

    package init(database: any SQLDatabase, cachedReferences: Int = 0) {
        self.database = database
        references =
            database.dialect == .sqlite && cachedReferences > 0 ? ReferenceCache(capacity: cachedReferences) : nil
    }

    /// The embedded store, created or upgraded in place.
    package convenience init(path: String, cachedReferences: Int = 0) throws {
        self.init(
            database: try SQLiteDatabase(path: path, migrator: MetadataSchema.migrator), cachedReferences: cachedReferences)
    }

    /// A cluster's store on PostgreSQL, refused unless `wharf migrate` brought its schema to this release's version.
    package convenience init(postgres settings: PostgreSQLSettings, logger: Logger) throws {
        let database = try PostgreSQLDatabase(settings: settings, logger: logger)
        try PostgreSQLSchema.check(database)
        self.init(database: database)
    }

    package func close() async throws { try await database.close() }

    static var now: Double { Date().timeIntervalSince1970 }

    /// A transaction committed without waiting for the disk, for bookkeeping whose loss costs only a repeat (which
    /// replication task is claimed or done).
    func writeUnsynced<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
        try await database.write(durable: false, body)
    }

    // MARK: Repositories and blobs

    private func repositoryID(_ db: any SQLSession, _ name: RepositoryName) throws -> Int64? {
        try db.value("SELECT id FROM repositories WHERE name = ?", [name.value])
    }

    private func ensureRepository(_ db: any SQLSession, _ name: RepositoryName) throws -> Int64 {
        try db.execute(
            "INSERT INTO repositories(name, created_at) VALUES (?, ?) ON CONFLICT(name) DO NOTHING", [name.value, Self.now])
        return try repositoryID(db, name)!
    }

    private func link(_ db: any SQLSession, repository: Int64, digest: Digest, size: Int64) throws {
        try db.execute(
            "INSERT INTO blobs(digest, size, created_at) VALUES (?, ?, ?) ON CONFLICT(digest) DO NOTHING",
            [digest.description, size, Self.now])
        try db.execute(
            """
            INSERT INTO repository_blobs(repository_id, digest, created_at) VALUES (?, ?, ?)
            ON CONFLICT DO NOTHING
            """, [repository, digest.description, Self.now])
    }

    /// The repositories that may read `digest`, by name, at most `limit` of them.
    package func repositories(linking digest: Digest, limit: Int) async throws -> [String] {
        try await database.read { db in
            try db.values(
                """
                SELECT r.name FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
                WHERE rb.digest = ? ORDER BY r.name LIMIT ?
                """, [digest.description, limit])
        }
    }

    /// The size of `digest` when the repository may read it.
    package func linkedBlobSize(_ repository: RepositoryName, _ digest: Digest) async throws -> Int64? {
        if let size = references?.blobSize(repository, digest) { return size }
        let generation = references?.generation
        let size: Int64? = try await database.read { db in
            try db.value(
                """
                SELECT b.size FROM blobs b
                JOIN repository_blobs l ON l.digest = b.digest
                JOIN repositories r ON r.id = l.repository_id
                WHERE r.name = ? AND b.digest = ?
                """, [repository.value, digest.description])
        }
        if let size, let generation { references?.insert(blobSize: size, for: repository, digest, readAt: generation) }
        return size
    }

    /// Records a committed blob and lets the repository read it.
    package func linkBlob(_ repository: RepositoryName, _ digest: Digest, size: Int64) async throws {
        try await database.write { db in
            try self.link(db, repository: try self.ensureRepository(db, repository), digest: digest, size: size)
        }
    }

    /// Withdraws the repository's right to read the blob; the content stays until garbage collection.
    package func unlinkBlob(_ repository: RepositoryName, _ digest: Digest) async throws -> Bool {
        defer { references?.invalidate(repository) }
        return try await database.write { db in
            guard let id = try self.repositoryID(db, repository) else { return false }
            return try db.execute(
                "DELETE FROM repository_blobs WHERE repository_id = ? AND digest = ?", [id, digest.description]) > 0
        }
    }

    /// Forgets a blob whose content is gone: its row, every repository's link, manifests stored as it (with their
    /// tags and references), and its piece lists.
    package func deleteBlobRows(_ digest: Digest) async throws {
        defer { references?.invalidate(nil) }
        try await database.write { db in
            for table in ["manifests", "repository_blobs", "blobs", "p2p_piece_lists"] {
                try db.execute("DELETE FROM \(table) WHERE digest = ?", [digest.description])
            }
        }
    }

    /// Blobs no manifest is or references, stored and last linked before `cutoff` (seconds since 1970).
    package func unreferencedBlobs(before cutoff: Double) async throws -> [(digest: String, size: Int64)] {
        try await database.read { db in
            try db.rows(
                """
                SELECT b.digest, b.size FROM blobs b
                WHERE b.created_at < ?1
                  AND NOT EXISTS (SELECT 1 FROM manifest_references r WHERE r.referenced_digest = b.digest)
                  AND NOT EXISTS (SELECT 1 FROM manifests m WHERE m.digest = b.digest)
                  AND NOT EXISTS (SELECT 1 FROM repository_blobs l WHERE l.digest = b.digest AND l.created_at >= ?1)
                ORDER BY b.digest
                """, [cutoff]
            ).map { (digest: $0[0], size: $0[1]) }
        }
    }

    package func blobStatistics() async throws -> (count: Int64, bytes: Int64) {
        try await database.read { db in
            let row = try db.row("SELECT count(*), CAST(coalesce(sum(size), 0) AS BIGINT) FROM blobs")!
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
        // Dropped once the write has committed (or failed, maybe after committing), before it is answered.
        defer { references?.invalidate(repository) }
        try await database.write { db in
            let id = try self.ensureRepository(db, repository)
            var moved: [(tag: String, previous: String?)] = []
            for blob in manifest.blobDigests {
                let known: Bool? = try db.value(
                    "SELECT true FROM repository_blobs WHERE repository_id = ? AND digest = ?", [id, blob.description])
                guard known == true else { throw RegistryError.manifestBlobUnknown(blob.description) }
            }
            for child in manifest.childDigests {
                let known: Bool? = try db.value(
                    "SELECT true FROM manifests WHERE repository_id = ? AND digest = ?", [id, child.description])
                // The spec: a missing child "MUST result in one or more MANIFEST_BLOB_UNKNOWN errors".
                guard known == true else { throw RegistryError.manifestBlobUnknown(child.description) }
            }
            try self.link(db, repository: id, digest: digest, size: size)
            try db.execute(
                """
                INSERT INTO manifests(repository_id, digest, media_type, size, artifact_type, subject, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING
                """,
                [
                    id, digest.description, manifest.mediaType, size, manifest.artifactType,
                    manifest.subjectDigest?.description, Self.now,
                ])
            if let chart { try self.record(chart, repository: id, db) }
            for referenced in manifest.blobDigests + manifest.childDigests {
                try db.execute(
                    """
                    INSERT INTO manifest_references(repository_id, manifest_digest, referenced_digest)
                    VALUES (?, ?, ?) ON CONFLICT DO NOTHING
                    """, [id, digest.description, referenced.description])
            }
            for tag in tags {
                if outbox != nil {
                    let previous: String? = try db.value(
                        "SELECT digest FROM tags WHERE repository_id = ? AND name = ?", [id, tag.value])
                    moved.append((tag.value, previous))
                }
                try db.execute(
                    """
                    INSERT INTO tags(repository_id, name, digest, updated_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT(repository_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at
                    """, [id, tag.value, digest.description, Self.now])
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
        if let hit = references?.lookup(repository, reference) { return hit }
        let generation = references?.generation
        let record = try await database.read { db -> ManifestRecord? in
            let row: SQLRow?
            switch reference {
            case .digest(let digest):
                row = try db.row(
                    """
                    SELECT m.digest, m.media_type, m.size FROM manifests m JOIN repositories r ON r.id = m.repository_id
                    WHERE r.name = ? AND m.digest = ?
                    """, [repository.value, digest.description])
            case .tag(let tag):
                row = try db.row(
                    """
                    SELECT m.digest, m.media_type, m.size FROM tags t
                    JOIN repositories r ON r.id = t.repository_id
                    JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
                    WHERE r.name = ? AND t.name = ?
                    """, [repository.value, tag.value])
            }
            guard let row else { return nil }
            return ManifestRecord(digest: try Digest(row[0] as String), mediaType: row[1], size: row[2])
        }
        if let record, let generation { references?.insert(record, for: repository, reference, readAt: generation) }
        return record
    }

    /// Deletes a manifest and every tag pointing at it. False when the repository has no such manifest.
    package func deleteManifest(_ repository: RepositoryName, _ digest: Digest, outbox: OutboxContext? = nil)
        async throws -> Bool
    {
        defer { references?.invalidate(repository) }
        return try await database.write { db in
            guard let id = try self.repositoryID(db, repository) else { return false }
            guard
                try db.execute("DELETE FROM manifests WHERE repository_id = ? AND digest = ?", [id, digest.description])
                    > 0
            else { return false }
            if let outbox {
                let change = RegistryChange(repository: repository, kind: .manifestDeleted(digest: digest), origin: outbox.origin)
                try self.queue(outbox.plan(change), db, sourceTime: Self.now)
            }
            return true
        }
    }

    /// The digest the tag pointed to; nil when there was no such tag.
    package func deleteTag(_ repository: RepositoryName, _ tag: Tag, outbox: OutboxContext? = nil) async throws -> String? {
        defer { references?.invalidate(repository) }
        return try await database.write { db in
            guard let id = try self.repositoryID(db, repository) else { return nil }
            let digest: String? = try db.value(
                "DELETE FROM tags WHERE repository_id = ? AND name = ? RETURNING digest", [id, tag.value])
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
        try await database.read { db in
            guard let id = try self.repositoryID(db, repository) else { return nil }
            return try db.values(
                "SELECT name FROM tags WHERE repository_id = ? AND name > ? ORDER BY name LIMIT ?",
                [id, last ?? "", limit ?? Int.max])
        }
    }

    package func repositories(after last: String?, limit: Int?) async throws -> [String] {
        try await database.read { db in
            try db.values(
                "SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?", [last ?? "", limit ?? Int.max])
        }
    }

    /// Manifests of the repository whose `subject` is `digest`, optionally of one artifact type. Their
    /// annotations are manifest content, which the database does not hold: the caller reads them from the blobs.
    package func referrers(_ repository: RepositoryName, of digest: Digest, artifactType: String?) async throws
        -> [Descriptor]
    {
        try await database.read { db in
            var sql = """
                SELECT m.digest, m.media_type, m.size, m.artifact_type FROM manifests m
                JOIN repositories r ON r.id = m.repository_id
                WHERE r.name = ? AND m.subject = ?
                """
            var arguments: SQLArguments = [repository.value, digest.description]
            if let artifactType {
                sql += " AND m.artifact_type = ?"
                arguments.append(artifactType)
            }
            sql += " ORDER BY m.created_at, m.digest"
            return try db.rows(sql, arguments).map { row in
                Descriptor(mediaType: row[1], digest: row[0], size: row[2], artifactType: row[3], annotations: nil)
            }
        }
    }

    // MARK: Master keys

    /// The master keys in use (synchronous: the store checks them while it opens).
    package func masterKeyIDs() throws -> [String] {
        try database.writeNow { db in try db.values("SELECT id FROM master_keys ORDER BY id") }
    }

    package func recordMasterKey(_ id: String) throws {
        try database.writeNow { db in try Self.insertMasterKey(id, db) }
    }

    /// The same, from a task: the task may run on an event loop, which must not wait for the database.
    package func masterKeyIDs() async throws -> [String] {
        try await database.read { db in try db.values("SELECT id FROM master_keys ORDER BY id") }
    }

    package func recordMasterKey(_ id: String) async throws {
        try await database.write(durable: true) { db in try Self.insertMasterKey(id, db) }
    }

    private static func insertMasterKey(_ id: String, _ db: any SQLSession) throws {
        try db.execute("INSERT INTO master_keys(id, added_at) VALUES (?, ?) ON CONFLICT DO NOTHING", [id, now])
    }

    package func forgetMasterKey(_ id: String) async throws {
        try await database.write { db in try db.execute("DELETE FROM master_keys WHERE id = ?", [id]) }
    }

    // MARK: Upload sessions

    package func insertUpload(id: String, repository: RepositoryName, encrypted: Bool) async throws {
        try await database.write { db in
            try db.execute(
                "INSERT INTO uploads(id, repository, encrypted, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                [id, repository.value, encrypted, Self.now, Self.now])
        }
    }

    /// The repository of an upload session and whether its file is encrypted.
    package func upload(id: String) async throws -> (repository: String, encrypted: Bool)? {
        try await database.read { db -> (repository: String, encrypted: Bool)? in
            try db.row("SELECT repository, encrypted FROM uploads WHERE id = ?", [id])
                .map { (repository: $0[0], encrypted: $0[1]) }
        }
    }

    /// Every encrypted upload session, for key rotation and status.
    package func uploadIDs() async throws -> [String] {
        try await database.read { db in try db.values("SELECT id FROM uploads WHERE encrypted ORDER BY id") }
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
        try await database.read { db in
            try db.rows("SELECT digest, size FROM blobs WHERE digest > ? ORDER BY digest LIMIT ?", [last, limit])
                .map { (digest: $0[0], size: $0[1]) }
        }
    }

    /// Which of `digests` have a blob row.
    package func knownBlobs(among digests: [Digest]) async throws -> Set<Digest> {
        var known = Set<Digest>()
        for start in stride(from: 0, to: digests.count, by: 500) {
            let list = sqlList(digests[start..<min(start + 500, digests.count)].map(\.description))
            let found: [String] = try await database.read { db in
                try db.values("SELECT digest FROM blobs WHERE digest IN \(list.marks)", list.arguments)
            }
            known.formUnion(found.compactMap { try? Digest($0) })
        }
        return known
    }

    /// Every upload session's id, encrypted or not.
    package func allUploadIDs() async throws -> Set<String> {
        try await database.read { db in Set(try db.values("SELECT id FROM uploads")) }
    }

    package func deleteUpload(id: String) async throws {
        try await database.write { db in
            try db.execute("DELETE FROM uploads WHERE id = ?", [id])
        }
    }

    /// Commits a finished upload: the blob row, the repository's link, and the end of the session, together.
    package func finishUpload(id: String, _ repository: RepositoryName, _ digest: Digest, size: Int64) async throws {
        try await database.write { db in
            try self.link(db, repository: try self.ensureRepository(db, repository), digest: digest, size: size)
            try db.execute("DELETE FROM uploads WHERE id = ?", [id])
        }
    }
}
