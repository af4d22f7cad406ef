import Foundation
import Testing

@testable import WharfHelm

/// Chart archives made by the system's GNU tar, read back: the metadata of a good one, and a clear error for each
/// way an upload can be wrong.
@Suite struct ChartArchiveTests {
    static let chartYAML = """
        apiVersion: v2
        name: mychart
        version: 1.2.3-rc.1+build.5
        appVersion: "4.5"
        description: A chart for tests
        keywords: [web, test]
        maintainers:
          - name: Ana
            email: ana@example.com
        dependencies:
          - name: base
            version: ">=1.0.0"
            repository: "http://127.0.0.1:5000/helm/team"
        type: application
        """

    /// Writes `files` (path → contents; nil makes a symlink to /etc/passwd) into a fresh directory and packs
    /// `members` (default: the top directories) with `tar -czf` from `cwd` in it; returns the archive's bytes.
    func pack(_ files: [String: String?], flags: [String] = [], members: [String]? = nil, cwd: String = ".") throws
        -> [UInt8]
    {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("chart-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        for (path, contents) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            if let contents {
                try Data(contents.utf8).write(to: url)
            } else {
                try FileManager.default.createSymbolicLink(atPath: url.path, withDestinationPath: "/etc/passwd")
            }
        }
        let archive = root.appendingPathComponent("out.tgz")
        let tar = Process()
        tar.executableURL = URL(fileURLWithPath: "/usr/bin/tar")
        tar.currentDirectoryURL = root.appendingPathComponent(cwd)
        let tops = Set(files.keys.map { String($0.split(separator: "/")[0]) }).sorted()
        tar.arguments = ["-czf", archive.path] + flags + (members ?? tops)
        try tar.run()
        tar.waitUntilExit()
        #expect(tar.terminationStatus == 0)
        return Array(try Data(contentsOf: archive))
    }

    func refusal(_ bytes: [UInt8], maxInflated: Int = ChartArchiveReader.maxInflated) -> String? {
        do {
            _ = try ChartArchiveReader.metadata(of: bytes, maxInflated: maxInflated)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func aChartsMetadataIsReadFromItsArchive() throws {
        let bytes = try pack([
            "mychart/Chart.yaml": Self.chartYAML, "mychart/values.yaml": "replicas: 1\n",
            "mychart/templates/deployment.yaml": "kind: Deployment\n",
        ])
        let metadata = try ChartArchiveReader.metadata(of: bytes)
        #expect(metadata.name == "mychart" && metadata.version == "1.2.3-rc.1+build.5" && metadata.appVersion == "4.5")
        #expect(metadata.keywords == ["web", "test"] && metadata.maintainers?.first?.email == "ana@example.com")
        #expect(metadata.dependencies?.first?.repository == "http://127.0.0.1:5000/helm/team")
        // Fed a byte at a time, it reads the same.
        let reader = try ChartArchiveReader()
        for byte in bytes { try reader.feed([byte]) }
        #expect(try reader.finish() == metadata)
    }

    @Test func brokenChartsAreRefusedSayingWhy() throws {
        let good = try pack(["mychart/Chart.yaml": Self.chartYAML])
        #expect(refusal(try pack(["mychart/values.yaml": "a: 1\n"]))?.contains("no mychart/Chart.yaml") == true)
        let badVersion = Self.chartYAML.replacingOccurrences(of: "1.2.3-rc.1+build.5", with: "1.2")
        #expect(refusal(try pack(["mychart/Chart.yaml": badVersion]))?.contains("not a semantic version") == true)
        #expect(refusal(try pack(["other/Chart.yaml": Self.chartYAML]))?.contains("directory in the archive is 'other'") == true)
        #expect(
            refusal(try pack(["mychart/Chart.yaml": "apiVersion: v2\nversion: 1.0.0\n"]))?.contains("'name' is missing") == true)
        #expect(refusal(try pack(["mychart/Chart.yaml": "name: [unclosed\n"]))?.contains("Chart.yaml") == true)
        var corrupt = good
        corrupt[corrupt.count / 2] ^= 0xff
        #expect(refusal(corrupt) != nil)
        #expect(refusal(Array(good.prefix(good.count - 12)))?.contains("ends early") == true)
        #expect(refusal(Array("not gzip at all".utf8))?.contains("not valid gzip") == true)
        #expect(refusal(good + [1, 2, 3])?.contains("after its gzip stream") == true)
    }

    @Test func aZipBombStopsAtTheLimit() throws {
        let bomb = try pack([
            "mychart/Chart.yaml": Self.chartYAML, "mychart/zeros": String(repeating: "\0", count: 2 << 20),
        ])
        #expect(bomb.count < 64 << 10, "two MiB of zeros compress to a few KiB")
        #expect(refusal(bomb, maxInflated: 1 << 20)?.contains("inflates to more than") == true)
        #expect(refusal(bomb, maxInflated: 4 << 20) == nil)
    }

    @Test func pathsThatLeaveTheChartAndLinksAreRefused() throws {
        // `-P` keeps a member named `../evil` as it is.
        let climbing = try pack(
            ["top/mychart/Chart.yaml": Self.chartYAML, "evil": "x"], flags: ["-P"], members: ["mychart", "../evil"],
            cwd: "top")
        #expect(refusal(climbing)?.contains("must stay inside the chart") == true)
        let linked = try pack(["mychart/Chart.yaml": Self.chartYAML, "mychart/passwd": nil])
        #expect(refusal(linked)?.contains("links and special files") == true)
    }
}

@Suite struct SemanticVersionTests {
    @Test(arguments: ["1.2.3", "v1.2.3", "0.0.0", "1.2.3-rc.1", "1.2.3-alpha-1.0a+build.5", "10.20.30+meta"])
    func accepts(_ text: String) { #expect(SemanticVersion(text) != nil) }

    @Test(arguments: ["", "1.2", "1.2.3.4", "01.2.3", "1.2.3-", "1.2.3-01", "1.2.3+", "1.2.x", "a.b.c", "1.2.3-rc..1"])
    func refuses(_ text: String) { #expect(SemanticVersion(text) == nil) }

    @Test func ordersByPrecedence() {
        let ordered = [
            "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
            "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0", "2.0.0",
        ].map { SemanticVersion($0)! }
        #expect(ordered == ordered.sorted())
        #expect(SemanticVersion("1.0.0+a")! == SemanticVersion("1.0.0+b")!)
    }
}
