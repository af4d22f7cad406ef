import Foundation
import NIOCore
import WharfCore

extension Registry {
    package var uploadsInProgress: Int { uploads.count }

    /// Opens an upload session; its id is a random UUID, which names the upload file too.
    package func startUpload(_ repository: RepositoryName, algorithm: Digest.Algorithm = .sha256) async throws -> String {
        let id = UUID().uuidString.lowercased()
        let encrypted = try await blobs.createUpload(id)
        do {
            try await metadata.insertUpload(id: id, repository: repository, encrypted: encrypted)
        } catch {
            blobs.removeUpload(id)
            throw error
        }
        uploads.insert(id, .init(size: 0, hasher: DigestHasher(algorithm)))
        return id
    }

    /// The bytes received so far.
    package func uploadSize(_ repository: RepositoryName, _ id: String) async throws -> Int64 {
        let encrypted = try await checkSession(repository, id)
        if let size = uploads.size(id) { return size }
        // Busy with another request, or known on disk only: read the file without taking the session.
        let file = try await openUploadFile(id, encrypted: encrypted, repair: false)
        defer { file.close() }
        return file.size
    }

    /// Appends a body to the session. `start` (from `Content-Range`) must equal the bytes received so far,
    /// and `length`, when given, must be what the body holds. Returns the new size.
    package func appendUpload<Body: AsyncSequence>(
        _ repository: RepositoryName, _ id: String, start: Int64?, length: Int64?, body: Body
    ) async throws -> Int64 where Body.Element == ByteBuffer {
        try await withSession(repository, id) { state, file in
            if let start, start != state.size {
                throw RangeMismatch(size: state.size)
            }
            let before = state.size
            let outcome = try await UploadFile.append(
                body, to: file, hasher: state.hasher, limit: configuration.maxBlobBytes)
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
    /// `target`: the repository that gets the blob, when not the session's own (a chart's repository is known only
    /// once its archive was read).
    package func completeUpload<Body: AsyncSequence>(
        _ repository: RepositoryName, _ id: String, digest: Digest, body: Body?, linkingTo target: RepositoryName? = nil
    ) async throws where Body.Element == ByteBuffer {
        try await withSession(repository, id) { state, file in
            if let body {
                let outcome = try await UploadFile.append(
                    body, to: file, hasher: state.hasher, limit: configuration.maxBlobBytes)
                state = UploadSessions.State(size: outcome.size, hasher: outcome.hasher)
            }
            let actual =
                if let hasher = state.hasher, hasher.algorithm == digest.algorithm {
                    hasher.finalize()
                } else {
                    try await blockingIO { () throws -> Digest in
                        var hasher = DigestHasher(digest.algorithm)
                        try file.read { hasher.update($0) }
                        return hasher.finalize()
                    }
                }
            guard actual == digest else {
                try await discard(id)
                throw RegistryError.digestInvalid("provided digest did not match uploaded content", detail: digest.description)
            }
            try await gate.shared { [size = state.size] in
                try await self.blobs.commit(upload: id, file: file, as: digest, size: size)
                try await self.metadata.finishUpload(id: id, target ?? repository, digest, size: size)
            }
            return .ended
        }
    }

    package func cancelUpload(_ repository: RepositoryName, _ id: String) async throws {
        try await withSession(repository, id) { _, _ in
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
        blobs.removeUpload(id)
        try await metadata.deleteUpload(id: id)
    }

    /// Checks that the session belongs to the repository; returns whether its file is encrypted.
    private func checkSession(_ repository: RepositoryName, _ id: String) async throws -> Bool {
        guard let session = try await metadata.upload(id: id), session.repository == repository.value else {
            throw RegistryError.blobUploadUnknown(id)
        }
        return session.encrypted
    }

    private func openUploadFile(_ id: String, encrypted: Bool, repair: Bool = true) async throws -> any UploadSink {
        do {
            return try await blobs.openUpload(id, encrypted: encrypted, repair: repair)
        } catch let error as RegistryError where error.code == .internalError && FileSystem.size(blobs.uploadPath(id)) == nil {
            throw RegistryError.blobUploadUnknown(id)
        }
    }

    private enum SessionAfter { case open, ended }

    /// Runs `body` with exclusive use of the session and its open file; returns the session's state after it.
    @discardableResult
    private func withSession(
        _ repository: RepositoryName, _ id: String,
        _ body: (inout UploadSessions.State, any UploadSink) async throws -> SessionAfter
    ) async throws -> UploadSessions.State {
        let encrypted = try await checkSession(repository, id)
        guard let taken = try await uploads.takeForRequest(id) else {
            throw RegistryError.blobUploadInvalid("another request is writing to this upload", status: 409)
        }
        let file: any UploadSink
        do {
            file = try await openUploadFile(id, encrypted: encrypted)
        } catch {
            uploads.release(id, taken)
            throw error
        }
        defer { file.close() }
        var state = taken.cached ?? .init(size: file.size, hasher: nil)
        let before = state
        do {
            switch try await body(&state, file) {
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
            if file.size != before.size {
                try? await blockingIO { try file.rollback(to: before.size) }
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
