import Foundation
import Logging
import NIOCore
import Synchronization
import WharfCore

/// Settings of the storage layer.
package struct StorageConfiguration: Sendable {
    package var dataDirectory: String
    /// The largest manifest accepted, in bytes.
    package var maxManifestBytes: Int
    /// The largest blob accepted, in bytes; nil for no limit.
    package var maxBlobBytes: Int64?
    /// Where master keys come from; nil to write files in plain text.
    package var encryption: EncryptionSettings?
    /// Blobs and upload sessions in an S3 bucket; nil to keep them in the data directory.
    package var objectStorage: ObjectStorageSettings?
    /// Metadata in a PostgreSQL database; nil for the data directory's SQLite file.
    package var postgres: PostgreSQLSettings?
    /// How many tag and digest resolutions to keep in memory (SQLite only; 0: none).
    package var cachedReferences: Int

    package init(
        dataDirectory: String, maxManifestBytes: Int = 4 << 20, maxBlobBytes: Int64? = nil,
        encryption: EncryptionSettings? = nil, objectStorage: ObjectStorageSettings? = nil,
        postgres: PostgreSQLSettings? = nil, cachedReferences: Int = 100_000
    ) {
        self.cachedReferences = cachedReferences
        self.dataDirectory = dataDirectory
        self.maxManifestBytes = maxManifestBytes
        self.maxBlobBytes = maxBlobBytes
        self.encryption = encryption
        self.objectStorage = objectStorage
        self.postgres = postgres
    }
}

/// A blob store that cannot be reached at start, in words for the operator.
package struct StorageUnavailable: Error, CustomStringConvertible {
    package let description: String
}

package struct ObjectStorageSettings: Sendable {
    package var endpoint: S3Endpoint
    package var credentials: S3Credentials
    /// Put before every key, such as `registry/`.
    package var prefix: String
    /// Blob GETs answer with a redirect to the object, signed for this long (plain-text objects only).
    package var redirect: Duration?

    package init(endpoint: S3Endpoint, credentials: S3Credentials, prefix: String, redirect: Duration? = nil) {
        self.endpoint = endpoint
        self.credentials = credentials
        self.prefix = prefix
        self.redirect = redirect
    }
}

package struct EncryptionSettings: Sendable {
    package var provider: any MasterKeyProvider
    /// Whether a provider holding no key may be given one (the embedded default: a key file in the data directory).
    package var createFirstKey: Bool

    package init(provider: any MasterKeyProvider, createFirstKey: Bool) {
        self.provider = provider
        self.createFirstKey = createFirstKey
    }
}

/// The registry's storage operations, as the distribution API needs them: blobs, uploads, manifests, listings.
///
/// It coordinates the content-addressed blob store and the metadata store so that every change is ordered
/// safely: content is durable before any metadata names it.
package final class Registry: Sendable {
    package let configuration: StorageConfiguration
    package let blobs: any BlobStore
    /// The blob store when it is the data directory's files: key rotation and repairs work on files. nil on S3.
    package let files: FileBlobStore?
    let sessions: any UploadStore
    package let metadata: MetadataStore
    /// The running state of file upload sessions.
    let uploads = UploadSessions()
    let manifestCache: ManifestCache
    let gate: CommitGate
    let clusterLock: ClusterCommitLock?
    /// Set while a key rotation or an in-place encryption runs: they are exclusive.
    let keyWork = Mutex(false)
    let recentlyUsed = RecentlyUsedBlobs()
    /// When this process last collected garbage (not a dry run), and what it freed.
    package let lastCollection = Mutex<(at: Double, report: GarbageReport)?>(nil)
    /// Which replication tasks a change queues; nil until replication is configured. Held in a struct: a bare
    /// closure read out of the `Mutex` (through `inout`) came back wrapped in two more thunks on every read.
    let outboxPlanner = Mutex<PlannerBox?>(nil)
    struct PlannerBox: Sendable { let plan: OutboxPlanner }
    package let logger: Logger

    /// Opens the store. With encryption configured, its master keys must include every key the store uses, and
    /// every file written from now on is encrypted.
    package init(configuration: StorageConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        try FileSystem.makeDirectory(configuration.dataDirectory)
        if let settings = configuration.postgres {
            metadata = try MetadataStore(postgres: settings, logger: logger)
        } else {
            metadata = try MetadataStore(
                path: configuration.dataDirectory + "/wharf.db", cachedReferences: configuration.cachedReferences)
        }
        // Other instances share a PostgreSQL store: their sweeps and commits exclude each other too.
        clusterLock = (metadata.database as? PostgreSQLDatabase).map(ClusterCommitLock.init)
        gate = CommitGate(cluster: clusterLock)
        var encryption: BlobEncryption?
        if let settings = configuration.encryption {
            encryption = try BlobEncryption(
                provider: settings.provider, createFirstKey: settings.createFirstKey,
                recorded: try metadata.masterKeyIDs(), logger: logger)
            try metadata.recordMasterKey(encryption!.active.id)
        }
        if let settings = configuration.objectStorage {
            let store = S3BlobStore(
                s3: try S3Client(endpoint: settings.endpoint, credentials: settings.credentials), prefix: settings.prefix,
                encryption: encryption)
            blobs = store
            files = nil
            sessions = S3Uploads(store: store, metadata: metadata, gate: gate, maxBlobBytes: configuration.maxBlobBytes)
        } else {
            let store = try FileBlobStore(root: configuration.dataDirectory, encryption: encryption)
            blobs = store
            files = store
            sessions = FileUploads(
                files: store, metadata: metadata, sessions: uploads, gate: gate, maxBlobBytes: configuration.maxBlobBytes)
        }
        manifestCache = ManifestCache(capacityBytes: 64 << 20)
    }

    /// Checks that the blob store can be reached: for S3, that the bucket answers (made when missing, as RGW and MinIO
    /// allow), so that a wrong endpoint, bucket or key stops the server at start with S3's own words.
    package func prepareStorage() async throws {
        guard let store = blobs as? S3BlobStore else { return }
        do {
            try await store.s3.ensureBucket()
        } catch {
            throw StorageUnavailable(
                description: "S3 bucket \(store.s3.endpoint.bucket) at \(store.s3.endpoint.url) cannot be used: \(error)")
        }
    }

    /// Releases the stores' connections (the S3 client's, PostgreSQL's), once nothing uses the registry any more.
    package func close() async throws {
        try await (blobs as? S3BlobStore)?.s3.shutdown()
        await clusterLock?.close()
        try await metadata.close()
    }

    /// Sets which replication tasks each change queues, in the change's own transaction.
    package func setOutbox(_ planner: OutboxPlanner?) {
        outboxPlanner.withLock { $0 = planner.map(PlannerBox.init) }
    }

    func outbox(origin: String?) -> OutboxContext? {
        outboxPlanner.withLock { $0 }.map { OutboxContext(plan: $0.plan, origin: origin) }
    }

    // MARK: Blobs

    /// Where a client may fetch the blob itself, when blob GETs redirect (`storage.redirect`): a URL of the object,
    /// signed for a short while. nil when they do not. Checked as `blobSize` checks it: the repository may read it.
    package func blobRedirect(_ repository: RepositoryName, _ digest: Digest) async throws -> String? {
        guard let lifetime = configuration.objectStorage?.redirect, let store = blobs as? S3BlobStore else { return nil }
        _ = try await blobSize(repository, digest)
        return store.s3.presignedURL(store.key(of: digest), expires: lifetime)
    }

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
    package func openBlob(_ repository: RepositoryName, _ digest: Digest) async throws -> any BlobReader {
        let size = try await blobSize(repository, digest)
        guard let file = try await blobs.open(digest, size: size) else {
            logger.error("blob is in the metadata but missing on disk", metadata: ["digest": "\(digest)"])
            throw RegistryError.blobUnknown(digest.description)
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

    /// Lets `repository` read a blob that some repository `readable` by the caller already holds (the automatic
    /// cross-repository mount: `mount` without `from`); false when there is none.
    package func mountBlob(
        _ repository: RepositoryName, _ digest: Digest, fromAnyOf readable: @Sendable (String) -> Bool
    ) async throws -> Bool {
        let holders = try await metadata.repositories(linking: digest, limit: 1000)
        guard let source = holders.first(where: readable).flatMap({ try? RepositoryName($0) }) else { return false }
        return try await mountBlob(repository, digest, from: source)
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
        var referrers = try await metadata.referrers(repository, of: digest, artifactType: artifactType)
        for index in referrers.indices {
            // A referrer deleted meanwhile is listed without annotations rather than failing the listing.
            guard let reference = try? Digest(referrers[index].digest),
                let stored = try? await manifest(repository, .digest(reference))
            else { continue }
            referrers[index].annotations = try? Manifest(parsing: stored.bytes, contentType: stored.mediaType).annotations
        }
        return referrers
    }
}
