import Logging
import NIOCore
import WharfCore

/// The distribution API's upload sessions, kept by the store's `UploadStore`.
extension Registry {
    package var uploadsInProgress: Int { uploads.count }

    package func startUpload(_ repository: RepositoryName, algorithm: Digest.Algorithm = .sha256) async throws -> String {
        try await sessions.start(repository, algorithm: algorithm)
    }

    /// The bytes received so far.
    package func uploadSize(_ repository: RepositoryName, _ id: String) async throws -> Int64 {
        try await sessions.size(repository, id)
    }

    /// Appends a body to the session; see `UploadStore.append`. Returns the new size.
    package func appendUpload<Body: AsyncSequence>(
        _ repository: RepositoryName, _ id: String, start: Int64?, length: Int64?, body: Body
    ) async throws -> Int64 where Body.Element == ByteBuffer {
        try await sessions.append(repository, id, start: start, length: length, body: body)
    }

    /// Appends an optional last body, checks the digest over the whole upload and commits the blob.
    /// A digest mismatch discards the whole session: nothing of it is left behind.
    /// `target`: the repository that gets the blob, when not the session's own (a chart's repository is known only
    /// once its archive was read).
    package func completeUpload<Body: AsyncSequence>(
        _ repository: RepositoryName, _ id: String, digest: Digest, body: Body?, linkingTo target: RepositoryName? = nil
    ) async throws where Body.Element == ByteBuffer {
        try await sessions.complete(repository, id, digest: digest, body: body, linkingTo: target)
    }

    package func cancelUpload(_ repository: RepositoryName, _ id: String) async throws {
        try await sessions.cancel(repository, id)
    }

    /// Monolithic upload in one request (`POST ?digest=`).
    package func uploadBlob<Body: AsyncSequence>(_ repository: RepositoryName, digest: Digest, body: Body) async throws
    where Body.Element == ByteBuffer {
        let id = try await startUpload(repository, algorithm: digest.algorithm)
        do {
            try await completeUpload(repository, id, digest: digest, body: body)
        } catch let error as RegistryError where error.code == .digestInvalid {
            throw error
        } catch {
            try? await cancelUpload(repository, id)
            throw error
        }
    }

    /// Removes upload sessions untouched for `ttl`, and what crashes left of others. Returns how many were removed.
    @discardableResult
    package func purgeUploads(olderThan ttl: Duration) async throws -> Int {
        let removed = try await sessions.purge(olderThan: ttl)
        if removed > 0 { logger.info("purged stale upload sessions", metadata: ["count": "\(removed)"]) }
        return removed
    }
}
