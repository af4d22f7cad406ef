import NIOCore
import WharfCore

/// Where upload sessions keep their bytes until they are committed as a blob: files in the data directory
/// (`FileUploads`) or segments in the S3 bucket (`S3Uploads`). Either keeps a session's size equal to the bytes
/// acknowledged to the client, checks the digest over what it received, and commits content before metadata.
protocol UploadStore: Sendable {
    /// Opens a session, its bytes to be hashed with `algorithm`; answers its id.
    func start(_ repository: RepositoryName, algorithm: Digest.Algorithm) async throws -> String
    /// The bytes received so far.
    func size(_ repository: RepositoryName, _ id: String) async throws -> Int64
    /// Appends a body. `start` (from `Content-Range`) must equal the bytes received so far, and `length`, when
    /// given, must be what the body holds. Answers the new size.
    func append<Body: AsyncSequence>(
        _ repository: RepositoryName, _ id: String, start: Int64?, length: Int64?, body: Body
    ) async throws -> Int64 where Body.Element == ByteBuffer
    /// Appends an optional last body, checks the digest over the whole upload and commits the blob, linked to
    /// `target` (else the session's repository). A digest mismatch discards the whole session.
    func complete<Body: AsyncSequence>(
        _ repository: RepositoryName, _ id: String, digest: Digest, body: Body?, linkingTo target: RepositoryName?
    ) async throws where Body.Element == ByteBuffer
    func cancel(_ repository: RepositoryName, _ id: String) async throws
    /// What is stored of sessions (files, objects), with the id of the session each belongs to.
    func storedUploads() async throws -> [(id: String, object: StoredBlob)]
    /// Removes sessions untouched for `ttl`, and what crashes left behind; answers how many sessions went.
    func purge(olderThan ttl: Duration) async throws -> Int
    /// The master key wrapping an encrypted session's data key.
    func wrappingKey(ofUpload id: String) async throws -> WrappingKey
    /// Wraps an encrypted session's data key with the active master key; nil while a request holds the session.
    func rewrap(upload id: String) async throws -> RewrapOutcome?
}
