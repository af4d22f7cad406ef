import Foundation
import Testing

@testable import WharfHelm

/// A classic upload must store what `helm push` stores, to the byte: else the config's digest, and the manifest's,
/// differ from helm's for the same chart.
@Suite struct ChartArtifactTests {
    static let chartYAML = """
        apiVersion: v2
        name: mychart
        description: A Helm chart for Kubernetes
        type: application
        version: 1.2.3
        appVersion: "1.16.0"
        keywords: [web, "a<b"]
        maintainers:
          - name: Jo & Co
            email: jo@example.com
        home: https://example.com/x?a=1&b=2
        dependencies:
          - name: dep
            version: ">=1.0.0"
            repository: ""
            import-values: [data, {child: a, parent: b}]
        annotations:
          z: "1"
          a: "2"
        """

    /// The config blob helm 3.8.1 and helm 4 both pushed for this Chart.yaml.
    static let helmConfig = #"""
        {"name":"mychart","home":"https://example.com/x?a=1\u0026b=2","version":"1.2.3","description":"A Helm chart for Kubernetes","keywords":["web","a\u003cb"],"maintainers":[{"name":"Jo \u0026 Co","email":"jo@example.com"}],"apiVersion":"v2","appVersion":"1.16.0","annotations":{"a":"2","z":"1"},"dependencies":[{"name":"dep","version":"\u003e=1.0.0","repository":"","import-values":["data",{"child":"a","parent":"b"}]}],"type":"application"}
        """#

    @Test func theConfigIsTheBytesHelmPushes() throws {
        let metadata = try ChartMetadata(yaml: Array(Self.chartYAML.utf8))
        #expect(String(decoding: ChartArtifact.config(metadata), as: UTF8.self) == Self.helmConfig)
    }

    /// The manifest of the chart above, its chart and provenance layers with digests of one repeated hex digit.
    static func manifest(chart: Character, provenance: Character) throws -> [UInt8] {
        func digest(_ hex: Character) -> String { "sha256:" + String(repeating: hex, count: 64) }
        return ChartArtifact.manifest(
            try ChartMetadata(yaml: Array(chartYAML.utf8)), config: .init(digest: digest("c"), size: 437),
            chartLayer: .init(digest: digest(chart), size: 4485), provenance: .init(digest: digest(provenance), size: 12),
            created: Date(timeIntervalSince1970: 1_796_312_640))
    }

    static func object(_ json: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any])
    }

    @Test func theManifestIsAnnotatedAsHelm4AnnotatesIt() throws {
        let manifest = try Self.manifest(chart: "a", provenance: "b")
        let annotations = try #require(try Self.object(manifest)["annotations"] as? [String: String])
        #expect(
            annotations == [
                "a": "2", "z": "1", "org.opencontainers.image.authors": "Jo & Co (jo@example.com)",
                "org.opencontainers.image.created": "2026-12-03T15:44:00Z",
                "org.opencontainers.image.description": "A Helm chart for Kubernetes",
                "org.opencontainers.image.title": "mychart", "org.opencontainers.image.url": "https://example.com/x?a=1&b=2",
                "org.opencontainers.image.version": "1.2.3",
            ])
        // Go's member order: schemaVersion, config, layers, annotations.
        let text = String(decoding: manifest, as: UTF8.self)
        #expect(text.hasPrefix(#"{"schemaVersion":2,"config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","#))
    }

    @Test func theLayersAreInDigestOrderAsHelm4SortsThem() throws {
        func mediaTypes(_ manifest: [UInt8]) throws -> [String?] {
            try #require(try Self.object(manifest)["layers"] as? [[String: Any]]).map { $0["mediaType"] as? String }
        }
        #expect(
            try mediaTypes(Self.manifest(chart: "a", provenance: "b")) == [ChartRecordTypes.chart, ChartRecordTypes.provenance])
        #expect(
            try mediaTypes(Self.manifest(chart: "b", provenance: "a")) == [ChartRecordTypes.provenance, ChartRecordTypes.chart])
    }

    @Test func goEscapesWhatHTMLWouldReadAndControlCharacters() {
        let bytes = GoJSON.encode(.string("<a & \"b\"\\\n\t\u{1}\u{2028}é>"))
        #expect(String(decoding: bytes, as: UTF8.self) == #""\u003ca \u0026 \"b\"\\\n\t\u0001\u2028é\u003e""#)
    }
}

private enum ChartRecordTypes {
    static let chart = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
    static let provenance = "application/vnd.cncf.helm.chart.provenance.v1.prov"
}
