import Foundation
import WharfCore

/// A repository as the console and `GET /api/v1/repositories` list it.
package struct RepositorySummary: Sendable, Codable, Equatable {
    package let name: String
    package let tags: Int
    package let manifests: Int
    /// The blobs the repository may read (layers, configs, manifests), each counted once however many manifests use it.
    package let size: Int64
    /// The part of `size` that other repositories may read too: stored once for all of them.
    package let sharedSize: Int64
    /// The last tag moved or manifest stored, in seconds since 1970; nil for a repository with neither.
    package let lastPush: Double?
}

/// A tag with what it points to.
package struct TagRow: Sendable, Equatable {
    package let tag: String
    package let digest: String
    package let mediaType: String
    package let artifactType: String?
    /// The manifest and every distinct blob it (or, for an index, its children) references.
    package let size: Int64
    package let updated: Double
}

/// A manifest in its repository: what it is, and what it belongs to.
package struct ManifestRow: Sendable, Equatable {
    package let digest: String
    package let mediaType: String
    package let artifactType: String?
    package let size: Int64
    package let totalSize: Int64
    package let created: Double
    package let tags: [String]
    /// The indexes of the repository that list it.
    package let parents: [String]
}

extension MetadataStore {
    /// Repository names after `last` in lexical order that contain `search` and that `visible` lets through, at most
    /// `limit`. Names are read from the database a batch at a time, so a caller who sees few repositories among many
    /// costs batches of names, never the whole table at once.
    package func repositoryNames(
        after last: String?, containing search: String?, limit: Int, visible: @Sendable (String) -> Bool
    ) async throws -> [String] {
        var names = [String]()
        var cursor = last ?? ""
        let batch = max(limit * 2, 100)
        while names.count < limit {
            let page: [String] = try await database.read { [cursor] db in
                var sql = "SELECT name FROM repositories WHERE name > ?"
                var arguments: SQLArguments = [cursor]
                if let search, !search.isEmpty {
                    sql += " AND name LIKE ? ESCAPE '\\'"
                    arguments.append("%" + Self.likeEscaped(search) + "%")
                }
                arguments.append(batch)
                return try db.values(sql + " ORDER BY name LIMIT ?", arguments)
            }
            names += page.filter(visible).prefix(limit - names.count)
            guard page.count == batch, let next = page.last else { break }
            cursor = next
        }
        return names
    }

    /// Sizes, counts and last push of the named repositories, in the order given (missing ones left out).
    package func repositorySummaries(_ names: [String]) async throws -> [RepositorySummary] {
        guard !names.isEmpty else { return [] }
        let (marks, arguments) = sqlList(names)
        let rows = try await database.read { db in
            try db.rows(
                """
                SELECT r.name,
                  (SELECT count(*) FROM tags t WHERE t.repository_id = r.id),
                  (SELECT count(*) FROM manifests m WHERE m.repository_id = r.id),
                  (SELECT CAST(coalesce(sum(b.size), 0) AS BIGINT) FROM repository_blobs l
                     JOIN blobs b ON b.digest = l.digest WHERE l.repository_id = r.id),
                  (SELECT CAST(coalesce(sum(b.size), 0) AS BIGINT) FROM repository_blobs l
                     JOIN blobs b ON b.digest = l.digest WHERE l.repository_id = r.id
                     AND EXISTS (SELECT 1 FROM repository_blobs o WHERE o.digest = l.digest AND o.repository_id <> r.id)),
                  (SELECT max(t.updated_at) FROM tags t WHERE t.repository_id = r.id),
                  (SELECT max(m.created_at) FROM manifests m WHERE m.repository_id = r.id)
                FROM repositories r WHERE r.name IN \(marks)
                """, arguments)
        }
        var byName = [String: RepositorySummary]()
        for row in rows {
            let tagged: Double? = row[5]
            let stored: Double? = row[6]
            byName[row[0]] = RepositorySummary(
                name: row[0], tags: Int(row[1] as Int64), manifests: Int(row[2] as Int64), size: row[3], sharedSize: row[4],
                lastPush: [tagged, stored].compactMap { $0 }.max())
        }
        return names.compactMap { byName[$0] }
    }

    /// The repository's tags after `last`, at most `limit`; nil when the repository does not exist.
    package func tagRows(_ repository: RepositoryName, after last: String?, limit: Int) async throws -> [TagRow]? {
        try await database.read { db in
            guard let id: Int64 = try db.value("SELECT id FROM repositories WHERE name = ?", [repository.value]) else {
                return nil
            }
            return try db.rows(
                """
                SELECT t.name, t.digest, m.media_type, m.artifact_type, m.size + (\(Self.referencedBytes("?1", "t.digest"))),
                  t.updated_at
                FROM tags t JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
                WHERE t.repository_id = ?1 AND t.name > ?2 ORDER BY t.name LIMIT ?3
                """, [id, last ?? "", limit]
            ).map { row in
                TagRow(
                    tag: row[0], digest: row[1], mediaType: row[2], artifactType: row[3], size: row[4], updated: row[5])
            }
        }
    }

    /// A manifest of the repository with its tags and the indexes that list it; nil when there is no such manifest.
    package func manifestRow(_ repository: RepositoryName, _ digest: Digest) async throws -> ManifestRow? {
        try await database.read { db in
            guard let id: Int64 = try db.value("SELECT id FROM repositories WHERE name = ?", [repository.value]),
                let row = try db.row(
                    """
                    SELECT m.digest, m.media_type, m.artifact_type, m.size, m.size + (\(Self.referencedBytes("?1", "m.digest"))),
                      m.created_at
                    FROM manifests m WHERE m.repository_id = ?1 AND m.digest = ?2
                    """, [id, digest.description])
            else { return nil }
            let tags: [String] = try db.values(
                "SELECT name FROM tags WHERE repository_id = ? AND digest = ? ORDER BY name LIMIT 1000",
                [id, digest.description])
            let parents: [String] = try db.values(
                """
                SELECT r.manifest_digest FROM manifest_references r
                JOIN manifests m ON m.repository_id = r.repository_id AND m.digest = r.manifest_digest
                WHERE r.repository_id = ? AND r.referenced_digest = ? ORDER BY r.manifest_digest LIMIT 1000
                """, [id, digest.description])
            return ManifestRow(
                digest: row[0], mediaType: row[1], artifactType: row[2], size: row[3], totalSize: row[4], created: row[5],
                tags: tags, parents: parents)
        }
    }

    /// SQL for the bytes of every distinct blob a manifest references, its children's included (an index's images).
    private static func referencedBytes(_ repository: String, _ manifest: String) -> String {
        """
        SELECT CAST(coalesce(sum(b.size), 0) AS BIGINT) FROM blobs b WHERE b.digest IN (
          SELECT r1.referenced_digest FROM manifest_references r1
          WHERE r1.repository_id = \(repository) AND r1.manifest_digest = \(manifest)
          UNION
          SELECT r2.referenced_digest FROM manifest_references r1 JOIN manifest_references r2
            ON r2.repository_id = r1.repository_id AND r2.manifest_digest = r1.referenced_digest
          WHERE r1.repository_id = \(repository) AND r1.manifest_digest = \(manifest))
        """
    }

    /// `text` with LIKE's wildcards and its escape character taken literally.
    static func likeEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_")
    }
}

/// The store in numbers, for the console's overview.
package struct StoreTotals: Sendable, Codable, Equatable {
    package let repositories: Int64
    package let tags: Int64
    package let manifests: Int64
    package let blobs: Int64
    /// Bytes stored: each blob once.
    package let storedBytes: Int64
    /// Bytes the repositories hold, each repository's blobs counted in full: what they would take without sharing.
    package let linkedBytes: Int64
}

extension MetadataStore {
    package func totals() async throws -> StoreTotals {
        try await database.read { db in
            let row = try db.row(
                """
                SELECT (SELECT count(*) FROM repositories), (SELECT count(*) FROM tags), (SELECT count(*) FROM manifests),
                  (SELECT count(*) FROM blobs), (SELECT CAST(coalesce(sum(size), 0) AS BIGINT) FROM blobs),
                  (SELECT CAST(coalesce(sum(b.size), 0) AS BIGINT) FROM repository_blobs l JOIN blobs b ON b.digest = l.digest)
                """)!
            return StoreTotals(
                repositories: row[0], tags: row[1], manifests: row[2], blobs: row[3], storedBytes: row[4], linkedBytes: row[5])
        }
    }
}
