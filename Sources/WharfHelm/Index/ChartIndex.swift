import Foundation
import Yams

/// A classic chart repository's `index.yaml`, made from the recorded chart versions (never by reading blobs): the
/// fields helm writes, `apiVersion: v1`, entries by name with the newest version first, keys sorted as helm's are.
public enum ChartIndex {
    /// One chart version as the index lists it.
    public struct Version: Sendable {
        public let metadata: ChartMetadata
        /// The SHA-256 of the chart's `.tgz`, hex.
        public let digest: String
        public let created: Date

        public init(metadata: ChartMetadata, digest: String, created: Date) {
            self.metadata = metadata
            self.digest = digest
            self.created = created
        }

        /// Where the chart is, relative to the repository's URL.
        public var url: String { "charts/\(metadata.name)-\(metadata.version).tgz" }
    }

    public static func yaml(_ versions: [Version], generated: Date) throws -> String {
        let encoder = YAMLEncoder()
        encoder.options.sortKeys = true
        return try encoder.encode(Document(entries: entries(versions), generated: timestamp(generated)))
    }

    /// The versions by chart name, newest first: the index's `entries`, and ChartMuseum's `GET /api/charts`.
    public static func entries(_ versions: [Version]) -> [String: [Entry]] {
        var entries: [String: [Entry]] = [:]
        for version in versions { entries[version.metadata.name, default: []].append(Entry(version: version)) }
        for name in entries.keys {
            entries[name]!.sort { a, b in SemanticVersion.precedes(b.version.metadata.version, a.version.metadata.version) }
        }
        return entries
    }

    /// RFC 3339 with nanoseconds, in UTC, as helm writes `created` and `generated`.
    static func timestamp(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        let nanos = Int((date.timeIntervalSince1970 - seconds) * 1e9)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withFullTime, .withTimeZone]
        let whole = formatter.string(from: Date(timeIntervalSince1970: seconds))
        return whole.dropLast() + "." + String(format: "%09d", nanos) + "Z"
    }

    private struct Document: Encodable {
        let apiVersion = "v1"
        let entries: [String: [Entry]]
        let generated: String
    }

    /// The chart's own fields, and beside them the index's: created, digest, urls.
    public struct Entry: Encodable, Sendable {
        public let version: Version

        public init(version: Version) { self.version = version }

        enum Key: String, CodingKey { case created, digest, urls }

        public func encode(to encoder: any Encoder) throws {
            try version.metadata.encode(to: encoder)
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(ChartIndex.timestamp(version.created), forKey: .created)
            try container.encode(version.digest, forKey: .digest)
            try container.encode([version.url], forKey: .urls)
        }
    }
}
