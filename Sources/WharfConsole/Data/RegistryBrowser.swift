import Foundation
import Synchronization
import WharfCore
import WharfStorage

/// What the console and the browsing endpoints of `/api/v1/` read from the store: repositories with their sizes, tags
/// with what they point to, manifests with their parts and referrers. Lists are paginated in the database.
package struct RegistryBrowser: Sendable {
    package let registry: Registry

    package init(registry: Registry) { self.registry = registry }

    package static let maxPage = 1000

    /// Repositories after `last` whose name contains `search`, that `visible` lets through.
    package func repositories(
        search: String?, after last: String?, limit: Int, visible: @escaping @Sendable (String) -> Bool
    ) async throws -> RepositoryList {
        let names = try await registry.metadata.repositoryNames(
            after: last, containing: search, limit: limit + 1, visible: visible)
        let page = Array(names.prefix(limit))
        return RepositoryList(
            repositories: try await registry.metadata.repositorySummaries(page),
            next: names.count > limit ? page.last : nil)
    }

    /// The repository's tags after `last`; `nameUnknown` when there is no such repository.
    package func tags(_ name: RepositoryName, after last: String?, limit: Int) async throws -> TagList {
        guard let rows = try await registry.metadata.tagRows(name, after: last, limit: limit + 1) else {
            throw RegistryError.nameUnknown(name.value)
        }
        var tags = [TagDetails]()
        for row in rows.prefix(limit) {
            let kind = ManifestKind(mediaType: row.mediaType, artifactType: row.artifactType)
            // Only an index lists platforms, and only its content says which: a read of one small manifest.
            let platforms =
                kind == .index ? (try? await children(name, row.digest).compactMap(\.platform)) ?? [] : []
            tags.append(
                TagDetails(
                    tag: row.tag, digest: row.digest, mediaType: row.mediaType, kind: kind, size: row.size,
                    platforms: platforms, pushed: row.updated))
        }
        return TagList(repository: name.value, tags: tags, next: rows.count > limit ? tags.last?.tag : nil)
    }

    /// A manifest with its parts, referrers and the indexes that list it, and its stored bytes.
    package func manifest(_ name: RepositoryName, _ reference: Reference) async throws -> (
        details: ManifestDetails, bytes: [UInt8]
    ) {
        let stored = try await registry.manifest(name, reference)
        guard let row = try await registry.metadata.manifestRow(name, stored.digest) else {
            throw RegistryError.manifestUnknown(reference.description)
        }
        let body = try? JSONDecoder().decode(ManifestBody.self, from: Data(stored.bytes))
        let referrers = try await registry.referrers(name, of: stored.digest, artifactType: nil)
        let groups = Dictionary(grouping: referrers) { $0.artifactType ?? $0.mediaType }
            .map { type, manifests in
                ManifestDetails.ReferrerGroup(
                    artifactType: type,
                    manifests: manifests.map { .init(digest: $0.digest, mediaType: $0.mediaType, size: $0.size) })
            }
            .sorted { $0.artifactType < $1.artifactType }
        return (
            ManifestDetails(
                repository: name.value, digest: row.digest, mediaType: row.mediaType,
                kind: ManifestKind(mediaType: row.mediaType, artifactType: row.artifactType),
                artifactType: row.artifactType, size: row.size, totalSize: row.totalSize, created: row.created, tags: row.tags,
                config: body?.config.map(\.blob), layers: body?.layers?.map(\.blob) ?? [],
                manifests: body?.manifests?.map(\.child) ?? [], subject: body?.subject?.digest,
                annotations: (body?.annotations ?? [:]).sorted { $0.key < $1.key }.map { .init(key: $0.key, value: $0.value) },
                referrers: groups, parents: row.parents),
            stored.bytes
        )
    }

    /// The store in numbers, with the last garbage collection here and the encryption keys.
    package func overview() async throws -> StoreOverview {
        let totals = try await registry.metadata.totals()
        let collection = registry.lastCollection.withLock { $0 }
        let encryption = registry.blobs.encryption
        return StoreOverview(
            totals: totals, lastCollection: collection.map { .init(at: $0.at, blobs: $0.report.blobs, bytes: $0.report.bytes) },
            activeKey: encryption?.active.id, keys: encryption?.keyIDs ?? [])
    }

    private func children(_ name: RepositoryName, _ digest: String) async throws -> [ManifestDetails.Child] {
        let stored = try await registry.manifest(name, .digest(try Digest(digest)))
        return try JSONDecoder().decode(ManifestBody.self, from: Data(stored.bytes)).manifests?.map(\.child) ?? []
    }
}

/// The store in numbers.
package struct StoreOverview: Sendable, Codable, Equatable {
    package struct Collection: Sendable, Codable, Equatable {
        package let at: Double
        package let blobs: Int
        package let bytes: Int64
    }

    package let totals: StoreTotals
    /// This instance's last garbage collection since it started; nil before the first.
    package let lastCollection: Collection?
    /// The master key that wraps new data keys, and every key the store holds; nil and empty with encryption off.
    package let activeKey: String?
    package let keys: [String]
}

/// The parts of a manifest the console shows, decoded leniently: the store checked the manifest when it was pushed.
private struct ManifestBody: Decodable {
    struct Part: Decodable {
        let mediaType: String?
        let digest: String
        let size: Int64?
        let platform: Platform?

        var blob: ManifestDetails.Blob { .init(digest: digest, mediaType: mediaType ?? "", size: size ?? 0) }
        var child: ManifestDetails.Child {
            .init(digest: digest, mediaType: mediaType ?? "", size: size ?? 0, platform: platform?.description)
        }
    }

    struct Platform: Decodable, CustomStringConvertible {
        let os: String
        let architecture: String
        let variant: String?

        var description: String { [os, architecture, variant].compactMap { $0 }.joined(separator: "/") }
    }

    let config: Part?
    let layers: [Part]?
    let manifests: [Part]?
    let subject: Part?
    let annotations: [String: String]?
}
