import Foundation
import NIOCore
import WharfCore

extension Registry {
    package var uploadsInProgress: Int { uploads.count }

    /// Opens an upload session; its id is a random UUID, which names the upload file too.
    package func startUpload(_ repository: RepositoryName, algorithm: Digest.Algorithm = .sha256) async throws -> String {
        let id = UUID().uuidString.lowercased()
        let path = blobs.uploadPath(id)
        try await blockingIO {
            try FileDescriptor.open(path, flags: O_WRONLY | O_CREAT | O_EXCL).close()
        }
        do {
            try await metadata.insertUpload(id: id, repository: repository)
        } catch {
            FileSystem.remove(path)
            throw error
        }
        uploads.insert(id, .init(size: 0, hasher: DigestHasher(algorithm)))
        return id
    }

    /// The bytes received so far.
    package func uploadSize(_ repository: RepositoryName, _ id: String) async throws -> Int64 {
        try await checkSession(repository, id)
        if let size = uploads.size(id) { return size }
        let path = blobs.uploadPath(id)
        guard let size = try await blockingIO({ FileSystem.size(path) }) else { throw RegistryError.blobUploadUnknown(id) }
        return size
    }

    /// Appends a body to the session. `start` (from `Content-Range`) must equal the bytes received so far,
    /// and `length`, when given, must be what the body holds. Returns the new size.
    package func appendUpload<Body: AsyncSequence>(
        _ repository: RepositoryName, _ id: String, start: Int64?, length: Int64?, body: Body
    ) async throws -> Int64 where Body.Element == ByteBuffer {
        try await withSession(repository, id) { state in
            if let start, start != state.size {
                throw RangeMismatch(size: state.size)
            }
            let before = state.size
            let outcome = try await UploadFile.append(
                body, to: blobs.uploadPath(id), at: state.size, hasher: state.hasher, limit: configuration.maxBlobBytes)
            state = UploadSessions.State(size: outcome.size, hasher: outcome.hasher)
            if let length, outcome.size - before != length {
                // withSession truncates the file back to where the chunk started.
                throw RegistryError.blobUploadInvalid("body length does not match Content-Range/Content-Length")
            }
            return .open
        }.size
    }

    /// Appends an optional last body, checks the digest over the whole upload and commits the blob.
    /// A digest mismatch discards the whole session: nothing of it is left behind.
    package func completeUpload<Body: AsyncSequence>(
        _ repository: RepositoryName, _ id: String, digest: Digest, body: Body?
    ) async throws where Body.Element == ByteBuffer {
        try await withSession(repository, id) { state in
            if let body {
                let outcome = try await UploadFile.append(
                    body, to: blobs.uploadPath(id), at: state.size, hasher: state.hasher,
                    limit: configuration.maxBlobBytes)
                state = UploadSessions.State(size: outcome.size, hasher: outcome.hasher)
            }
            let actual =
                if let hasher = state.hasher, hasher.algorithm == digest.algorithm {
                    hasher.finalize()
                } else {
                    try await blobs.hash(upload: id, algorithm: digest.algorithm)
                }
            guard actual == digest else {
                try await discard(id)
                throw RegistryError.digestInvalid("provided digest did not match uploaded content", detail: digest.description)
            }
            try await gate.shared { [size = state.size] in
                try await self.blobs.commit(upload: id, as: digest)
                try await self.metadata.finishUpload(id: id, repository, digest, size: size)
            }
            return .ended
        }
    }

    package func cancelUpload(_ repository: RepositoryName, _ id: String) async throws {
        try await withSession(repository, id) { _ in
            try await discard(id)
            return .ended
        }
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
            try? await discard(id)
            throw error
        }
    }

    private func discard(_ id: String) async throws {
        try await blockingIO { [path = blobs.uploadPath(id)] in FileSystem.remove(path) }
        try await metadata.deleteUpload(id: id)
    }

    private func checkSession(_ repository: RepositoryName, _ id: String) async throws {
        guard try await metadata.uploadRepository(id: id) == repository.value else {
            throw RegistryError.blobUploadUnknown(id)
        }
    }

    private enum SessionAfter { case open, ended }

    /// Runs `body` with exclusive use of the session and returns the session's state after it.
    @discardableResult
    private func withSession(
        _ repository: RepositoryName, _ id: String,
        _ body: (inout UploadSessions.State) async throws -> SessionAfter
    ) async throws -> UploadSessions.State {
        try await checkSession(repository, id)
        var state: UploadSessions.State
        if let cached = try uploads.checkOut(id) {
            state = cached
        } else {
            // Known on disk only: the server restarted since the last request of this session.
            guard uploads.checkOutRecovered(id) else {
                throw RegistryError.blobUploadInvalid("another request is writing to this upload", status: 409)
            }
            let path = blobs.uploadPath(id)
            guard let size = try await blockingIO({ FileSystem.size(path) }) else {
                uploads.remove(id)
                throw RegistryError.blobUploadUnknown(id)
            }
            state = .init(size: size, hasher: nil)
        }
        let before = state
        do {
            switch try await body(&state) {
            case .open: uploads.checkIn(id, state)
            case .ended: uploads.remove(id)
            }
            return state
        } catch let mismatch as RangeMismatch {
            uploads.checkIn(id, before)
            throw RegistryError.blobUploadInvalid(
                "Content-Range does not continue the upload at byte \(mismatch.size)", status: 416)
        } catch let error as RegistryError where error.code == .digestInvalid {
            uploads.remove(id)
            throw error
        } catch {
            // A failure after a last chunk was appended (at commit, say) must not leave bytes the client was
            // never acknowledged for: the session goes back to where it stood.
            if state.size != before.size {
                try? await blockingIO { [path = blobs.uploadPath(id)] in
                    try FileDescriptor.open(path, flags: O_WRONLY).truncate(to: before.size)
                }
            }
            uploads.checkIn(id, before)
            throw error
        }
    }
}

/// A chunk that does not start where the upload stands.
struct RangeMismatch: Error {
    let size: Int64
}
