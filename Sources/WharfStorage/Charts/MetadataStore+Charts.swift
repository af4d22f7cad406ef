import WharfCore

extension MetadataStore {
    /// Inside a manifest's transaction: records (or, for a version pushed again, replaces) a chart version.
    func record(_ chart: ChartRecord, repository id: Int64, _ db: any SQLSession) throws {
        try db.execute(
            """
            INSERT INTO charts(repository_id, name, version, manifest_digest, chart_digest, chart_size,
                               provenance_digest, metadata, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(repository_id, name, version) DO UPDATE SET manifest_digest = excluded.manifest_digest,
                chart_digest = excluded.chart_digest, chart_size = excluded.chart_size,
                provenance_digest = excluded.provenance_digest, metadata = excluded.metadata,
                created_at = excluded.created_at
            """,
            [
                id, chart.name, chart.version, chart.manifestDigest, chart.chartDigest, chart.chartSize,
                chart.provenanceDigest, String(decoding: chart.metadata, as: UTF8.self), chart.created,
            ])
    }

    /// The chart versions a namespace's chart repository lists: those pushed to `<namespace>/<chart name>` whose
    /// manifest is there, by name then newest first.
    package func charts(in namespace: RepositoryName) async throws -> [ChartRecord] {
        // The range lets SQLite find the namespace's repositories by the name index, not scan every chart.
        try await fetchCharts(
            where: "r.name > ?1 || '/' AND r.name < ?1 || '0' AND r.name = ?1 || '/' || c.name", [namespace.value])
    }

    /// One version of a chart of the namespace, nil when there is none.
    package func chart(in namespace: RepositoryName, name: String, version: String) async throws -> ChartRecord? {
        try await fetchCharts(
            where: "r.name = ? AND c.name = ? AND c.version = ?", ["\(namespace.value)/\(name)", name, version]
        )
        .first
    }

    /// The chart versions of every namespace whose name, description or a keyword holds `word` (any case).
    package func charts(matching word: String) async throws -> [ChartRecord] {
        // The one query the engines spell differently: their JSON functions differ.
        let sqlite = """
            substr(r.name, length(r.name) - length(c.name)) = '/' || c.name AND (instr(lower(c.name), ?1) > 0
                OR instr(lower(coalesce(json_extract(c.metadata, '$.description'), '')), ?1) > 0
                OR EXISTS (SELECT 1 FROM json_each(c.metadata, '$.keywords') k WHERE instr(lower(k.value), ?1) > 0))
            """
        let postgres = """
            right(r.name, length(c.name) + 1) = '/' || c.name AND (strpos(lower(c.name), ?1) > 0
                OR strpos(lower(coalesce(c.metadata::jsonb ->> 'description', '')), ?1) > 0
                OR EXISTS (SELECT 1 FROM jsonb_array_elements_text(CASE jsonb_typeof(c.metadata::jsonb -> 'keywords')
                    WHEN 'array' THEN c.metadata::jsonb -> 'keywords' ELSE '[]' END) k WHERE strpos(lower(k), ?1) > 0))
            """
        return try await fetchCharts(where: database.dialect == .postgres ? postgres : sqlite, [word.lowercased()])
    }

    private func fetchCharts(where condition: String, _ arguments: SQLArguments) async throws -> [ChartRecord] {
        try await database.read { db in
            try db.rows(
                """
                SELECT c.*, r.name AS repository FROM charts c JOIN repositories r ON r.id = c.repository_id
                WHERE \(condition) ORDER BY r.name, c.created_at DESC
                """, arguments
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
