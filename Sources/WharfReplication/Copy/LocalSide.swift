import NIOCore
import WharfCore
import WharfStorage

/// This instance's store as one end of a replication. What it writes names `origin` (the remote the copy came
/// from), so that rules towards that remote do not send it back.
struct LocalSide: RegistrySide {
    let registry: Registry
    /// The remote's instance id, when it is a Wharf that has said it.
    let origin: @Sendable () -> String?

    func manifest(_ repository: String, _ reference: String) async throws -> FetchedManifest? {
        do {
            let stored = try await registry.manifest(try RepositoryName(repository), try Reference(reference))
            return FetchedManifest(bytes: stored.bytes, mediaType: stored.mediaType, digest: stored.digest)
        } catch let error as RegistryError where error.code == .manifestUnknown || error.code == .nameUnknown {
            return nil
        }
    }

    func manifestDigest(_ repository: String, _ reference: String) async throws -> Digest? {
        do {
            return try await registry.manifestRecord(try RepositoryName(repository), try Reference(reference)).digest
        } catch let error as RegistryError where error.code == .manifestUnknown || error.code == .nameUnknown {
            return nil
        }
    }

    func putManifest(_ repository: String, _ reference: String, _ manifest: FetchedManifest) async throws {
        _ = try await registry.putManifest(
            try RepositoryName(repository), reference: try Reference(reference), contentType: manifest.mediaType,
            bytes: manifest.bytes, origin: origin())
    }

    func deleteManifest(_ repository: String, _ reference: String) async throws -> Bool {
        do {
            try await registry.deleteManifest(try RepositoryName(repository), try Reference(reference), origin: origin())
            return true
        } catch let error as RegistryError where error.code == .manifestUnknown {
            return false
        }
    }

    func blobSize(_ repository: String, _ digest: Digest) async throws -> Int64? {
        do {
            return try await registry.blobSize(try RepositoryName(repository), digest)
        } catch let error as RegistryError where error.code == .blobUnknown {
            return nil
        }
    }

    func readBlob(_ repository: String, _ digest: Digest, offset: Int64, length: Int64) async throws -> ByteStream {
        ByteStream(
            base: BlobRangeStream(
                registry: registry, repository: try RepositoryName(repository), digest: digest, offset: offset, length: length))
    }

    func startBlobUpload(_ repository: String, _ digest: Digest) async throws -> String? {
        let name = try RepositoryName(repository)
        if try await registry.mountBlob(name, digest, fromAnyOf: { _ in true }) { return nil }
        return try await registry.startUpload(name)
    }

    func uploadOffset(_ repository: String, _ location: String) async throws -> Int64? {
        do {
            return try await registry.uploadSize(try RepositoryName(repository), location)
        } catch let error as RegistryError where error.code == .blobUploadUnknown {
            return nil
        }
    }

    func appendBlob(
        _ repository: String, _ location: String, offset: Int64, length: Int64,
        body: some AsyncSequence<ByteBuffer, any Error> & Sendable
    ) async throws -> String {
        _ = try await registry.appendUpload(try RepositoryName(repository), location, start: offset, length: length, body: body)
        return location
    }

    func completeBlob(_ repository: String, _ location: String, _ digest: Digest) async throws {
        try await registry.completeUpload(
            try RepositoryName(repository), location, digest: digest, body: nil as AsyncStream<ByteBuffer>?)
    }

    func tags(_ repository: String) async throws -> [String] {
        do {
            return try await registry.tags(try RepositoryName(repository), after: nil, limit: nil)
        } catch let error as RegistryError where error.code == .nameUnknown {
            return []
        }
    }

    func repositories() async throws -> [String] { try await registry.repositories(after: nil, limit: nil) }

    func referrers(_ repository: String, of digest: Digest) async throws -> [Descriptor] {
        try await registry.referrers(try RepositoryName(repository), of: digest, artifactType: nil)
    }
}
