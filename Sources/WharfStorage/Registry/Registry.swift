import Foundation
import Logging
import NIOCore
import WharfCore

/// Settings of the storage layer.
package struct StorageConfiguration: Sendable {
    package var dataDirectory: String
    /// The largest manifest accepted, in bytes.
    package var maxManifestBytes: Int
    /// The largest blob accepted, in bytes; nil for no limit.
    package var maxBlobBytes: Int64?

    package init(dataDirectory: String, maxManifestBytes: Int = 4 << 20, maxBlobBytes: Int64? = nil) {
        self.dataDirectory = dataDirectory
        self.maxManifestBytes = maxManifestBytes
        self.maxBlobBytes = maxBlobBytes
    }
}

/// The registry's storage operations, as the distribution API needs them: blobs, uploads, manifests, listings.
///
/// It coordinates the content-addressed blob store and the metadata store so that every change is ordered
/// safely: content is durable before any metadata names it.
package final class Registry: Sendable {
    package let configuration: StorageConfiguration
    let blobs: FileBlobStore
    let metadata: MetadataStore
    let uploads = UploadSessions()
    let manifestCache: ManifestCache
    let gate = CommitGate()
    let recentlyUsed = RecentlyUsedBlobs()
    let logger: Logger

    package init(configuration: StorageConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        try FileSystem.makeDirectory(configuration.dataDirectory)
        blobs = try FileBlobStore(root: configuration.dataDirectory)
        metadata = try MetadataStore(path: configuration.dataDirectory + "/wharf.db")
        manifestCache = ManifestCache(capacityBytes: 64 << 20)
    }

    // MARK: Blobs

    /// The size of a blob the repository may read.
    package func blobSize(_ repository: RepositoryName, _ digest: Digest) async throws -> Int64 {
        // A client told that the blob exists may reference it in a manifest next: the use is recorded in the same
        // shared section as the lookup, so a garbage collection sweep sees either the use or no blob.
        let size = try await gate.shared {
            self.recentlyUsed.touch(digest)
            return try await self.metadata.linkedBlobSize(repository, digest)
        }
        guard let size else { throw RegistryError.blobUnknown(digest.description) }
        return size
    }

    /// Opens a blob the repository may read; its file must have the size the metadata records.
    package func openBlob(_ repository: RepositoryName, _ digest: Digest) async throws -> BlobFile {
        let size = try await blobSize(repository, digest)
        guard let file = try await blobs.open(digest) else {
            logger.error("blob is in the metadata but missing on disk", metadata: ["digest": "\(digest)"])
            throw RegistryError.blobUnknown(digest.description)
        }
        guard file.size == size else {
            file.close()
            throw RegistryError.internalError("blob \(digest) has an unexpected size on disk")
        }
        return file
    }

    package func deleteBlob(_ repository: RepositoryName, _ digest: Digest) async throws {
        guard try await metadata.unlinkBlob(repository, digest) else {
            throw RegistryError.blobUnknown(digest.description)
        }
    }

    /// Lets `repository` read a blob of `source`; false when `source` cannot read it either.
    package func mountBlob(_ repository: RepositoryName, _ digest: Digest, from source: RepositoryName) async throws
        -> Bool
    {
        // Check and link in one shared section: garbage collection cannot remove the blob in between.
        try await gate.shared {
            guard let size = try await self.metadata.linkedBlobSize(source, digest),
                try await self.blobs.size(of: digest) != nil
            else { return false }
            self.recentlyUsed.touch(digest)
            try await self.metadata.linkBlob(repository, digest, size: size)
            return true
        }
    }

    package func blobStatistics() async throws -> (count: Int64, bytes: Int64) {
        try await metadata.blobStatistics()
    }

    // MARK: Listings

    package func tags(_ repository: RepositoryName, after last: String?, limit: Int?) async throws -> [String] {
        guard let tags = try await metadata.tags(repository, after: last, limit: limit) else {
            throw RegistryError.nameUnknown(repository.value)
        }
        return tags
    }

    package func repositories(after last: String?, limit: Int?) async throws -> [String] {
        try await metadata.repositories(after: last, limit: limit)
    }

    package func referrers(_ repository: RepositoryName, of digest: Digest, artifactType: String?) async throws
        -> [Descriptor]
    {
        try await metadata.referrers(repository, of: digest, artifactType: artifactType)
    }
}
