import Foundation
import WharfStorage

// The view models of the browsing pages: every value a template shows, already formatted. Templates read stored
// properties only (Mustache looks them up by reflection).

/// The repository list.
package struct RepositoryListView: Sendable {
    package struct Row: Sendable, Equatable {
        package let name: String
        package let tags: Int
        package let manifests: Int
        package let size: String
        package let shared: String
        package let lastPush: String
    }

    let base: String
    /// nil when there is no search (an empty string would count as one in a template).
    package let search: String?
    package let rows: [Row]
    /// The next page's address; nil on the last.
    package let next: String?

    package init(_ list: RepositoryList, search: String, base: String) {
        self.base = base
        self.search = search.isEmpty ? nil : search
        rows = list.repositories.map { summary in
            Row(
                name: summary.name, tags: summary.tags, manifests: summary.manifests, size: ConsoleFormat.bytes(summary.size),
                shared: summary.sharedSize > 0
                    ? "\(ConsoleFormat.bytes(summary.sharedSize)) (\(ConsoleFormat.percent(summary.sharedSize, of: summary.size)))"
                    : "none",
                lastPush: summary.lastPush.map(ConsoleFormat.time) ?? "never")
        }
        next = list.next.map { last in
            var query = ["last=\(ConsoleQuery.encode(last))"]
            if !search.isEmpty { query.insert("q=\(ConsoleQuery.encode(search))", at: 0) }
            return "\(base)/repositories?" + query.joined(separator: "&")
        }
    }
}

/// A repository's tags.
package struct RepositoryView: Sendable {
    package struct Row: Sendable, Equatable {
        package let tag: String
        package let digest: String
        package let short: String
        package let kind: String
        package let size: String
        package let platforms: String
        package let pushed: String
        package let pull: String
    }

    let base: String
    package let name: String
    package let rows: [Row]
    package let next: String?
    package let canDelete: Bool

    package init(_ list: TagList, host: String, canDelete: Bool, base: String) {
        self.base = base
        name = list.repository
        self.canDelete = canDelete
        rows = list.tags.map { tag in
            Row(
                tag: tag.tag, digest: tag.digest, short: ConsoleFormat.shortDigest(tag.digest), kind: tag.kind.label,
                size: ConsoleFormat.bytes(tag.size), platforms: tag.platforms.joined(separator: ", "),
                pushed: ConsoleFormat.time(tag.pushed),
                pull: tag.kind.pullCommand(host: host, repository: list.repository, tag: tag.tag))
        }
        next = list.next.map { "\(base)/repositories/\(list.repository)?last=\(ConsoleQuery.encode($0))" }
    }
}

/// A manifest's page.
package struct ManifestView: Sendable {
    package struct Part: Sendable, Equatable {
        package let number: Int
        package let digest: String
        package let short: String
        package let mediaType: String
        package let size: String
    }

    package struct Child: Sendable, Equatable {
        package let platform: String
        package let digest: String
        package let short: String
        package let size: String
    }

    package struct Referrer: Sendable, Equatable {
        package let digest: String
        package let size: String
    }

    package struct ReferrerGroup: Sendable, Equatable {
        package let artifactType: String
        package let manifests: [Referrer]
    }

    package struct Annotation: Sendable, Equatable {
        package let key: String
        package let value: String
    }

    let base: String
    package let name: String
    package let digest: String
    package let mediaType: String
    package let artifactType: String?
    package let kind: String
    package let size: String
    package let totalSize: String
    package let created: String
    package let tags: [String]
    package let pulls: [String]
    package let subject: String?
    package let config: Part?
    package let layers: [Part]
    package let children: [Child]
    package let referrers: [ReferrerGroup]
    package let parents: [String]
    package let annotations: [Annotation]
    /// The manifest as stored, pretty-printed (as stored when it is not JSON).
    package let raw: String
    package let canDelete: Bool

    package init(_ details: ManifestDetails, bytes: [UInt8], host: String, canDelete: Bool, base: String) {
        func part(_ blob: ManifestDetails.Blob, _ number: Int) -> Part {
            Part(
                number: number, digest: blob.digest, short: ConsoleFormat.shortDigest(blob.digest), mediaType: blob.mediaType,
                size: ConsoleFormat.bytes(blob.size))
        }
        self.base = base
        name = details.repository
        digest = details.digest
        mediaType = details.mediaType
        artifactType = details.artifactType
        kind = details.kind.label
        size = ConsoleFormat.bytes(details.size)
        totalSize = ConsoleFormat.bytes(details.totalSize)
        created = ConsoleFormat.time(details.created)
        tags = details.tags
        pulls = details.tags.map { details.kind.pullCommand(host: host, repository: details.repository, tag: $0) }
        subject = details.subject
        config = details.config.map { part($0, 0) }
        layers = details.layers.enumerated().map { part($1, $0 + 1) }
        children = details.manifests.map {
            Child(
                platform: $0.platform ?? "unknown", digest: $0.digest, short: ConsoleFormat.shortDigest($0.digest),
                size: ConsoleFormat.bytes($0.size))
        }
        referrers = details.referrers.map { group in
            ReferrerGroup(
                artifactType: group.artifactType,
                manifests: group.manifests.map { Referrer(digest: $0.digest, size: ConsoleFormat.bytes($0.size)) })
        }
        parents = details.parents
        annotations = details.annotations.map { Annotation(key: $0.key, value: $0.value) }
        raw = Self.pretty(bytes)
        self.canDelete = canDelete
    }

    static func pretty(_ bytes: [UInt8]) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)),
            let data = try? JSONSerialization.data(
                withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        else { return String(decoding: bytes, as: UTF8.self) }
        return String(decoding: data, as: UTF8.self)
    }
}

/// A confirmation before a delete.
package struct ConfirmView: Sendable {
    let base: String
    package let question: String
    package let action: String
    package let button: String
    package let back: String
    let csrf: String

    package init(question: String, action: String, button: String, back: String, csrf: String, base: String) {
        self.question = question
        self.action = action
        self.button = button
        self.back = back
        self.csrf = csrf
        self.base = base
    }
}

/// The store in numbers.
package struct OverviewView: Sendable {
    package struct Collection: Sendable, Equatable {
        package let at: String
        package let blobs: Int
        package let bytes: String
    }

    let base: String
    package let repositories: Int64
    package let tags: Int64
    package let manifests: Int64
    package let blobs: Int64
    package let storedBytes: String
    package let linkedBytes: String
    package let savedBytes: String
    package let savedShare: String
    package let lastCollection: Collection?
    package let activeKey: String?
    package let keyCount: Int

    package init(_ overview: StoreOverview, base: String) {
        let totals = overview.totals
        let saved = max(totals.linkedBytes - totals.storedBytes, 0)
        self.base = base
        repositories = totals.repositories
        tags = totals.tags
        manifests = totals.manifests
        blobs = totals.blobs
        storedBytes = ConsoleFormat.bytes(totals.storedBytes)
        linkedBytes = ConsoleFormat.bytes(totals.linkedBytes)
        savedBytes = ConsoleFormat.bytes(saved)
        savedShare = ConsoleFormat.percent(saved, of: totals.linkedBytes)
        lastCollection = overview.lastCollection.map {
            Collection(at: ConsoleFormat.time($0.at), blobs: $0.blobs, bytes: ConsoleFormat.bytes($0.bytes))
        }
        activeKey = overview.activeKey
        keyCount = overview.keys.count
    }
}

/// Percent-encoding of a query name or value, for the console's links and the audit API's `Link` header.
package enum ConsoleQuery {
    package static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~:"))) ?? ""
    }
}
