import Crypto
import Foundation
import Testing
import Yams

@testable import WharfHelm

/// Our index.yaml against the one helm itself writes (`helm repo index`) for the same charts, entry by entry, except
/// `generated`, `created` and `urls`. Helm is the one `scripts/install-test-tools.sh` puts in `.tools/bin`.
@Suite struct HelmRepoIndexTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let charts: [(name: String, yaml: String)] = [
        ("web", ChartArchiveTests.chartYAML.replacingOccurrences(of: "name: mychart", with: "name: web")),
        ("web", "apiVersion: v2\nname: web\nversion: 1.10.0\nappVersion: \"5.0\"\nkubeVersion: \">=1.20.0\"\n"),
        (
            "db",
            """
            apiVersion: v1
            name: db
            version: 0.1.0
            description: "A database: with a colon"
            home: https://example.com/db
            sources: [https://example.com/src]
            icon: https://example.com/icon.png
            deprecated: true
            annotations: { category: Database }
            maintainers: [{ name: Bo, url: "https://example.com/bo" }]
            """
        ),
    ]

    @Test func ourIndexHasTheFieldsHelmWrites() throws {
        let helm = Self.root.appendingPathComponent(".tools/bin/helm3").path
        try #require(
            FileManager.default.isExecutableFile(atPath: helm),
            "run ./scripts/install-test-tools.sh first (it puts helm in .tools/bin)")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("helm-index-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var versions: [ChartIndex.Version] = []
        for chart in Self.charts {
            let bytes = try ChartArchiveTests().pack(["\(chart.name)/Chart.yaml": chart.yaml])
            let metadata = try ChartArchiveReader.metadata(of: bytes)
            try Data(bytes).write(to: dir.appendingPathComponent("\(metadata.name)-\(metadata.version).tgz"))
            let digest = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
            versions.append(ChartIndex.Version(metadata: metadata, digest: digest, created: Date()))
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: helm)
        process.arguments = ["repo", "index", dir.path]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let theirs = try Self.entries(String(contentsOf: dir.appendingPathComponent("index.yaml"), encoding: .utf8))
        let ours = try Self.entries(ChartIndex.yaml(versions, generated: Date()))
        #expect(Set(ours.keys) == Set(theirs.keys))
        for (name, entries) in theirs {
            #expect(ours[name] == entries, "\(name)")
        }
    }

    /// Each chart's entries in order, each as JSON with sorted keys, without the fields that differ by design.
    static func entries(_ yaml: String) throws -> [String: [String]] {
        let index = try #require(try Yams.load(yaml: yaml) as? [String: Any])
        #expect(index["apiVersion"] as? String == "v1")
        let entries = try #require(index["entries"] as? [String: [[String: Any]]])
        return try entries.mapValues { list in
            try list.map { entry in
                let kept = entry.filter { !["created", "urls"].contains($0.key) }
                return String(decoding: try JSONSerialization.data(withJSONObject: kept, options: [.sortedKeys]), as: UTF8.self)
            }
        }
    }
}
