import Foundation
import WharfCore

/// A Helm chart version, recorded in the same transaction as its OCI manifest: what a classic chart repository's
/// index.yaml lists. Its fields come from the chart's config blob, the Chart.yaml as JSON that `helm push` writes.
package struct ChartRecord: Sendable, Equatable {
    package static let configMediaType = "application/vnd.cncf.helm.config.v1+json"
    package static let contentMediaType = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
    package static let provenanceMediaType = "application/vnd.cncf.helm.chart.provenance.v1.prov"
    /// The largest config blob read for its fields.
    static let maxConfigBytes: Int64 = 1 << 20

    /// The repository the chart was pushed to: `<namespace>/<name>`, as `helm push … oci://HOST/<namespace>` names it.
    package let repository: String
    package let name: String
    package let version: String
    package let manifestDigest: String
    /// The chart's `.tgz` (the manifest's chart layer), and its provenance file when one was pushed.
    package let chartDigest: String
    package let chartSize: Int64
    package let provenanceDigest: String?
    /// The config blob's JSON: every Chart.yaml field.
    package let metadata: [UInt8]
    package let created: Double

    /// The record a pushed manifest makes, when it is a chart: a Helm config and one chart layer. Nil for anything
    /// else, and for a config without a name and version (helm itself never writes one).
    init?(repository: RepositoryName, manifest: Manifest, digest: Digest, config: [UInt8], created: Double) {
        struct Fields: Decodable {
            let name: String
            let version: String
        }
        guard manifest.config?.mediaType == Self.configMediaType,
            let chart = manifest.layers.first(where: { $0.mediaType == Self.contentMediaType }),
            let fields = try? JSONDecoder().decode(Fields.self, from: Data(config))
        else { return nil }
        self.init(
            repository: repository.value, name: fields.name, version: fields.version, manifestDigest: digest.description,
            chartDigest: chart.digest,
            chartSize: chart.size,
            provenanceDigest: manifest.layers.first { $0.mediaType == Self.provenanceMediaType }?.digest,
            metadata: config, created: created)
    }

    package init(
        repository: String, name: String, version: String, manifestDigest: String, chartDigest: String, chartSize: Int64,
        provenanceDigest: String?, metadata: [UInt8], created: Double
    ) {
        self.repository = repository
        self.name = name
        self.version = version
        self.manifestDigest = manifestDigest
        self.chartDigest = chartDigest
        self.chartSize = chartSize
        self.provenanceDigest = provenanceDigest
        self.metadata = metadata
        self.created = created
    }

    /// The file name the index points at.
    package var fileName: String { "\(name)-\(version).tgz" }
}
