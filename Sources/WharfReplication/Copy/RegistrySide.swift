import NIOCore
import WharfCore

/// One end of a replication: this instance's store or a remote registry. The copy is written once against this, so
/// push rules (local → remote) and pull rules (remote → local) share it.
protocol RegistrySide: Sendable {
    func manifest(_ repository: String, _ reference: String) async throws -> FetchedManifest?
    func manifestDigest(_ repository: String, _ reference: String) async throws -> Digest?
    func putManifest(_ repository: String, _ reference: String, _ manifest: FetchedManifest) async throws
    /// True when there was one to delete.
    func deleteManifest(_ repository: String, _ reference: String) async throws -> Bool
    func blobSize(_ repository: String, _ digest: Digest) async throws -> Int64?
    /// `length` bytes of the blob from `offset`, streamed.
    func readBlob(_ repository: String, _ digest: Digest, offset: Int64, length: Int64) async throws -> ByteStream
    /// Mounts the blob from another repository of this side, or starts an upload: nil when mounted, else the
    /// upload's location.
    func startBlobUpload(_ repository: String, _ digest: Digest) async throws -> String?
    /// The bytes an upload holds; nil when the side lost it.
    func uploadOffset(_ repository: String, _ location: String) async throws -> Int64?
    /// Appends `length` bytes at `offset`; returns the upload's next location.
    func appendBlob(
        _ repository: String, _ location: String, offset: Int64, length: Int64,
        body: some AsyncSequence<ByteBuffer, any Error> & Sendable
    ) async throws -> String
    func completeBlob(_ repository: String, _ location: String, _ digest: Digest) async throws
    func tags(_ repository: String) async throws -> [String]
    func repositories() async throws -> [String]
    func referrers(_ repository: String, of digest: Digest) async throws -> [Descriptor]
}

/// A remote registry, through its client.
struct RemoteSide: RegistrySide {
    let client: RegistryClient

    func manifest(_ repository: String, _ reference: String) async throws -> FetchedManifest? {
        try await client.manifest(repository, reference)
    }
    func manifestDigest(_ repository: String, _ reference: String) async throws -> Digest? {
        try await client.manifestDigest(repository, reference)
    }
    func putManifest(_ repository: String, _ reference: String, _ manifest: FetchedManifest) async throws {
        try await client.putManifest(repository, reference, manifest)
    }
    func deleteManifest(_ repository: String, _ reference: String) async throws -> Bool {
        try await client.deleteManifest(repository, reference)
    }
    func blobSize(_ repository: String, _ digest: Digest) async throws -> Int64? {
        try await client.blobSize(repository, digest)
    }
    func readBlob(_ repository: String, _ digest: Digest, offset: Int64, length: Int64) async throws -> ByteStream {
        ByteStream(base: try await client.blob(repository, digest, range: offset...(offset + length - 1)))
    }
    func startBlobUpload(_ repository: String, _ digest: Digest) async throws -> String? {
        // Without `from`: a Wharf mounts from any repository of its own that holds the blob; others open a session.
        try await client.startUpload(repository, mount: digest, from: nil)
    }
    func uploadOffset(_ repository: String, _ location: String) async throws -> Int64? {
        try await client.uploadOffset(location, repository: repository)
    }
    func appendBlob(
        _ repository: String, _ location: String, offset: Int64, length: Int64,
        body: some AsyncSequence<ByteBuffer, any Error> & Sendable
    ) async throws -> String {
        try await client.patch(location, repository: repository, offset: offset, length: length, body: body)
    }
    func completeBlob(_ repository: String, _ location: String, _ digest: Digest) async throws {
        try await client.completeUpload(location, repository: repository, digest: digest)
    }
    func tags(_ repository: String) async throws -> [String] { try await client.tags(repository) }
    func repositories() async throws -> [String] { try await client.repositories() }
    func referrers(_ repository: String, of digest: Digest) async throws -> [Descriptor] {
        try await client.referrers(repository, of: digest)
    }
}
