import Foundation
import WharfCore

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

    public static func yaml(_ versions: [Version], generated: Date) -> String {
        let entries = entries(versions).map { name, list in (name, GoJSON.Value.array(list.map(\.value))) }
        let document = GoJSON.Value.object([
            ("apiVersion", .string("v1")), ("entries", .object(entries)), ("generated", .string(timestamp(generated))),
        ])
        return String(decoding: BlockYAML.emit(document), as: UTF8.self)
    }

    /// The versions by chart name, newest first: the index's `entries`, and ChartMuseum's `GET /api/charts`.
    public static func entries(_ versions: [Version]) -> [String: [Entry]] {
        var byName: [String: [(version: (text: String, parsed: SemanticVersion?), entry: Entry)]] = [:]
        for version in versions {
            let text = version.metadata.version
            byName[version.metadata.name, default: []].append(((text, SemanticVersion(text)), Entry(version: version)))
        }
        return byName.mapValues { list in
            list.sorted { a, b in SemanticVersion.precedes(b.version, a.version) }.map(\.entry)
        }
    }

    /// RFC 3339 with nanoseconds, in UTC, as helm writes `created` and `generated` (without a date formatter per
    /// entry, which was most of an index's cost).
    static func timestamp(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        var out: [UInt8] = []
        UTCTime(secondsSince1970: Int64(seconds)).rfc3339(
            fraction: Int((date.timeIntervalSince1970 - seconds) * 1e9), fractionWidth: 9, to: &out)
        return String(decoding: out, as: UTF8.self)
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

        /// The same fields for `index.yaml`, as helm writes them (its `Metadata`, then the index's own).
        var value: GoJSON.Value {
            .object(
                ChartArtifact.metadata(version.metadata) + [
                    ("created", .string(ChartIndex.timestamp(version.created))), ("digest", .string(version.digest)),
                    ("urls", .array([.string(version.url)])),
                ])
        }
    }
}
