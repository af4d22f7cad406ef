import Crypto
import Foundation
import WharfCore
import WharfStorage

/// A namespace's classic chart repository over the registry's store: its charts are the chart artifacts pushed to
/// `<namespace>/<name>`, listed from the rows recorded at push (never by reading blobs), served as `index.yaml` and as
/// ChartMuseum's JSON, uploaded (`ChartUpload`) and deleted the classic way as well as the OCI way.
package struct ChartRepository: Sendable {
    let registry: Registry
    package let namespace: RepositoryName

    package init(registry: Registry, namespace: RepositoryName) {
        self.registry = registry
        self.namespace = namespace
    }

    /// The chart versions of the namespace in repositories `visible` lets through.
    package func versions(visible: (String) -> Bool) async throws -> [ChartRecord] {
        try await registry.metadata.charts(in: namespace).filter { visible($0.repository) }
    }

    package func version(_ name: String, _ version: String) async throws -> ChartRecord? {
        try await registry.metadata.chart(in: namespace, name: name, version: version)
    }

    /// The version a file name `<name>-<version>.tgz` names: a name may hold dashes, so each split before a SemVer
    /// is tried.
    package func version(file: String) async throws -> ChartRecord? {
        guard file.hasSuffix(".tgz") else { return nil }
        let stem = file.dropLast(".tgz".count)
        for dash in stem.indices where stem[dash] == "-" {
            let version = String(stem[stem.index(after: dash)...])
            guard SemanticVersion(version) != nil else { continue }
            if let found = try await self.version(String(stem[..<dash]), version) { return found }
        }
        return nil
    }

    /// `index.yaml` of these versions. `generated` is the newest push, so the same charts give the same bytes.
    package static func index(of charts: [ChartRecord]) -> [UInt8] {
        let newest = Date(timeIntervalSince1970: charts.map(\.created).max() ?? 0)
        return Array(ChartIndex.yaml(charts.compactMap(\.indexVersion), generated: newest).utf8)
    }

    /// The ETag of `index(of:)`, without writing it (so an unchanged index costs a 304 little): each version's
    /// manifest fixes its fields, so the manifests and push times fix the index.
    package static func etag(of charts: [ChartRecord]) -> String {
        var hash = SHA256()
        hash.update(data: Array("index.yaml v2\n".utf8))  // a new way of writing the index changes every ETag
        for chart in charts.sorted(by: { ($0.repository, $0.version) < ($1.repository, $1.version) }) {
            hash.update(data: Array("\(chart.repository) \(chart.version) \(chart.manifestDigest) \(chart.created)\n".utf8))
        }
        return "\"" + Array(hash.finalize()).prefix(16).hexString + "\""
    }

    package func upload() -> ChartUpload { ChartUpload(registry: registry, namespace: namespace) }

    /// Deletes the version's manifest, which takes the chart out of the index (as deleting it by digest does).
    package func delete(_ chart: ChartRecord) async throws {
        try await registry.deleteManifest(try RepositoryName(chart.repository), .digest(try Digest(chart.manifestDigest)))
    }

    /// The chart versions of every namespace whose name, description or a keyword holds `word`, in repositories
    /// `visible` lets through: each chart's newest version, or all of them.
    package static func search(
        _ word: String, in registry: Registry, allVersions: Bool, visible: (String) -> Bool
    ) async throws -> [ChartRecord] {
        let found = try await registry.metadata.charts(matching: word).filter { visible($0.repository) }
        guard !allVersions else { return found }
        return Dictionary(grouping: found, by: \.repository).values.compactMap { versions in
            versions.max { SemanticVersion.precedes($0.version, $1.version) }
        }.sorted { $0.repository < $1.repository }
    }

    static func invalid(_ message: String) -> RegistryError {
        RegistryError(.manifestInvalid, status: 400, "invalid chart: \(message)")
    }
}

extension ChartRecord {
    /// The recorded Chart.yaml fields; nil for a config helm would not have written (it is left out of listings).
    package var chartMetadata: ChartMetadata? { try? JSONDecoder().decode(ChartMetadata.self, from: Data(metadata)) }

    /// The version as the index and ChartMuseum's API list it.
    package var indexVersion: ChartIndex.Version? {
        chartMetadata.map { metadata in
            ChartIndex.Version(
                metadata: metadata, digest: String(chartDigest.dropFirst("sha256:".count)),
                created: Date(timeIntervalSince1970: created))
        }
    }
}
