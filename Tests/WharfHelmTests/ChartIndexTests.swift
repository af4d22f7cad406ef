import Foundation
import Testing
import Yams

@testable import WharfHelm

/// index.yaml as helm reads it: the classic fields, entries by name with the newest version first.
@Suite struct ChartIndexTests {
    func version(_ name: String, _ version: String, description: String? = nil) throws -> ChartIndex.Version {
        var yaml = "apiVersion: v2\nname: \(name)\nversion: \(version)\n"
        if let description { yaml += "description: \"\(description)\"\n" }
        return ChartIndex.Version(
            metadata: try ChartMetadata(yaml: Array(yaml.utf8)), digest: String(repeating: "a", count: 64),
            created: Date(timeIntervalSince1970: 1_700_000_000.25))
    }

    @Test func entriesAreGroupedByNameNewestFirstWithTheIndexFields() throws {
        let text = ChartIndex.yaml(
            [
                try version("web", "1.2.0"), try version("web", "1.10.0", description: "Newest: web"),
                try version("web", "1.10.0-rc.1"), try version("db", "0.1.0"),
            ], generated: Date(timeIntervalSince1970: 1_700_000_100))
        let index = try #require(try Yams.load(yaml: text) as? [String: Any])
        #expect(index["apiVersion"] as? String == "v1")
        #expect(index["generated"] as? String == "2023-11-14T22:15:00.000000000Z")
        let entries = try #require(index["entries"] as? [String: [[String: Any]]])
        #expect(Set(entries.keys) == ["web", "db"])
        #expect(entries["web"]!.map { $0["version"] as? String } == ["1.10.0", "1.10.0-rc.1", "1.2.0"])
        let newest = entries["web"]![0]
        #expect(newest["urls"] as? [String] == ["charts/web-1.10.0.tgz"])
        #expect(newest["digest"] as? String == String(repeating: "a", count: 64))
        #expect(newest["created"] as? String == "2023-11-14T22:13:20.250000000Z")
        #expect(newest["description"] as? String == "Newest: web" && newest["apiVersion"] as? String == "v2")
        #expect(newest["appVersion"] == nil, "absent fields are left out, as helm does")
        // Keys sorted, as helm writes them.
        let db = ChartIndex.yaml([try version("db", "0.1.0")], generated: Date(timeIntervalSince1970: 1_700_000_100))
        #expect(
            db == """
                apiVersion: v1
                entries:
                  db:
                  - apiVersion: v2
                    created: "2023-11-14T22:13:20.250000000Z"
                    digest: \(String(repeating: "a", count: 64))
                    name: db
                    urls:
                    - charts/db-0.1.0.tgz
                    version: "0.1.0"
                generated: "2023-11-14T22:15:00.000000000Z"

                """)
    }
}
