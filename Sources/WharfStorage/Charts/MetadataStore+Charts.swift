import GRDB
import WharfCore

extension MetadataStore {
    /// Inside a manifest's transaction: records (or, for a version pushed again, replaces) a chart version.
    func record(_ chart: ChartRecord, repository id: Int64, _ db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO charts(repository_id, name, version, manifest_digest, chart_digest, chart_size,
                                   provenance_digest, metadata, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(repository_id, name, version) DO UPDATE SET manifest_digest = excluded.manifest_digest,
                    chart_digest = excluded.chart_digest, chart_size = excluded.chart_size,
                    provenance_digest = excluded.provenance_digest, metadata = excluded.metadata,
                    created_at = excluded.created_at
                """,
            arguments: [
                id, chart.name, chart.version, chart.manifestDigest, chart.chartDigest, chart.chartSize,
                chart.provenanceDigest, String(decoding: chart.metadata, as: UTF8.self), chart.created,
            ])
    }

    /// The chart versions a namespace's chart repository lists: those pushed to `<namespace>/<chart name>` whose
    /// manifest is there, by name then newest first.
    package func charts(in namespace: RepositoryName) async throws -> [ChartRecord] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT c.*, r.name AS repository FROM charts c JOIN repositories r ON r.id = c.repository_id
                    WHERE r.name = ? || '/' || c.name ORDER BY c.name, c.created_at DESC
                    """, arguments: [namespace.value]
            ).map { row in
                ChartRecord(
                    repository: row["repository"], name: row["name"], version: row["version"],
                    manifestDigest: row["manifest_digest"],
                    chartDigest: row["chart_digest"], chartSize: row["chart_size"],
                    provenanceDigest: row["provenance_digest"], metadata: Array((row["metadata"] as String).utf8),
                    created: row["created_at"])
            }
        }
    }
}
