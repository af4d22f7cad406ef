import Foundation
import NIOCore
import WharfCore

#if canImport(Glibc)
    import Glibc
#endif

/// Upload sessions as files under the data directory's `uploads/`, one request at a time each (`UploadSessions`
/// holds the running hash between requests). A commit renames the finished file into place.
struct FileUploads: UploadStore {
    let files: FileBlobStore
    let metadata: MetadataStore
    let sessions: UploadSessions
    let gate: CommitGate
    let maxBlobBytes: Int64?

    /// Opens an upload session; its id is a random UUID, which names the upload file too.
    func start(_ repository: RepositoryName, algorithm: Digest.Algorithm) async throws -> String {
        let id = UUID().uuidString.lowercased()
        let encrypted = try await files.createUpload(id)
        do {
            try await metadata.insertUpload(id: id, repository: repository, encrypted: encrypted)
        } catch {
            files.removeUpload(id)
            throw error
        }
        sessions.insert(id, .init(size: 0, hasher: DigestHasher(algorithm)))
        return id
    }

    /// The bytes received so far.
    func size(_ repository: RepositoryName, _ id: String) async throws -> Int64 {
        let encrypted = try await checkSession(repository, id)
        if let size = sessions.size(id) { return size }
        // Busy with another request, or known on disk only: read the file without taking the session.
        let file = try await openUploadFile(id, encrypted: encrypted, repair: false)
        defer { file.close() }
        return file.size
    }

    func append<Body: AsyncSequence>(
        _ repository: RepositoryName, _ id: String, start: Int64?, length: Int64?, body: Body
    ) async throws -> Int64 where Body.Element == ByteBuffer {
        try await withSession(repository, id) { state, file in
            if let start, start != state.size {
                throw RangeMismatch(size: state.size)
            }
            let before = state.size
            let outcome = try await UploadFile.append(
                body, to: file, hasher: state.hasher, limit: maxBlobBytes)
            state = UploadSessions.State(size: outcome.size, hasher: outcome.hasher)
            if let length, outcome.size - before != length {
                // withSession truncates the file back to where the chunk started.
                throw RegistryError.blobUploadInvalid("body length does not match Content-Range/Content-Length")
            }
            return .open
        }.size
    }

    func complete<Body: AsyncSequence>(
        _ repository: RepositoryName, _ id: String, digest: Digest, body: Body?, linkingTo target: RepositoryName?
    ) async throws where Body.Element == ByteBuffer {
        try await withSession(repository, id) { state, file in
            if let body {
                let outcome = try await UploadFile.append(
                    body, to: file, hasher: state.hasher, limit: maxBlobBytes)
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
                try await self.files.commit(upload: id, file: file, as: digest, size: size)
                try await self.metadata.finishUpload(id: id, target ?? repository, digest, size: size)
            }
            return .ended
        }
    }

    func cancel(_ repository: RepositoryName, _ id: String) async throws {
        try await withSession(repository, id) { _, _ in
            try await discard(id)
            return .ended
        }
    }

    /// Removes upload sessions untouched for `ttl`: their files (by modification time, which every write
    /// updates) and their rows; also files left without a row by a crash. Returns how many were removed.
    func purge(olderThan ttl: Duration) async throws -> Int {
        let directory = files.root + "/uploads"
        let cutoff = Date().timeIntervalSince1970 - Double(ttl.components.seconds)
        // A session is its file and, when encrypted, a `.tail` beside it: the newest of them dates the session.
        let stale = try await blockingIO { () -> [String] in
            var newest = [String: Double]()
            for name in FileSystem.list(directory) {
                var info = stat()
                guard stat(directory + "/" + name, &info) == 0 else { continue }
                let id = String(name.prefix(while: { $0 != "." }))
                newest[id] = max(newest[id] ?? 0, Double(info.st_mtim.tv_sec))
            }
            return newest.filter { $0.value < cutoff }.map(\.key)
        }
        var removed = 0
        for id in stale where sessions.take(id) != nil {
            files.removeUpload(id)
            FileSystem.remove(files.uploadPath(id) + ".tail.new")
            try await metadata.deleteUpload(id: id)
            sessions.remove(id)
            removed += 1
        }
        return removed
    }

    func storedUploads() async throws -> [(id: String, object: StoredBlob)] {
        let directory = files.root + "/uploads"
        return try await blockingIO {
            FileSystem.list(directory).compactMap { name in
                let path = "\(directory)/\(name)"
                guard let modified = FileSystem.modificationTime(path) else { return nil }
                let stored = StoredBlob(path: path, modified: modified, size: FileSystem.size(path) ?? 0)
                return (String(name.prefix { $0 != "." }), stored)
            }
        }
    }

    private func discard(_ id: String) async throws {
        files.removeUpload(id)
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
            return try await files.openUpload(id, encrypted: encrypted, repair: repair)
        } catch let error as RegistryError where error.code == .internalError && FileSystem.size(files.uploadPath(id)) == nil {
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
        guard let taken = try await sessions.takeForRequest(id) else {
            throw RegistryError.blobUploadInvalid("another request is writing to this upload", status: 409)
        }
        let file: any UploadSink
        do {
            file = try await openUploadFile(id, encrypted: encrypted)
        } catch {
            sessions.release(id, taken)
            throw error
        }
        defer { file.close() }
        var state = taken.cached ?? .init(size: file.size, hasher: nil)
        let before = state
        do {
            switch try await body(&state, file) {
            case .open: sessions.checkIn(id, state)
            case .ended: sessions.remove(id)
            }
            return state
        } catch let mismatch as RangeMismatch {
            sessions.checkIn(id, before)
            throw RegistryError.blobUploadInvalid(
                "Content-Range does not continue the upload at byte \(mismatch.size)", status: 416)
        } catch let error as RegistryError where error.code == .digestInvalid {
            sessions.remove(id)
            throw error
        } catch {
            // A failure after a last chunk was appended (at commit, say) must not leave bytes the client was
            // never acknowledged for: the session goes back to where it stood.
            if file.size != before.size {
                try? await blockingIO { try file.rollback(to: before.size) }
            }
            sessions.checkIn(id, before)
            throw error
        }
    }

    // MARK: Key rotation

    func wrappingKey(ofUpload id: String) async throws -> WrappingKey {
        guard let encryption = files.encryption else { return .plain }
        let path = files.uploadPath(id)
        return try await blockingIO { try FileBlobStore.wrappingKey(path, .upload(id), size: nil, encryption) }
    }

    func rewrap(upload id: String) async throws -> RewrapOutcome? {
        guard let encryption = files.encryption else { return .absent }
        guard let taken = sessions.take(id, maintenance: true) else { return nil }
        defer { sessions.release(id, taken) }
        let path = files.uploadPath(id)
        return try await blockingIO { try FileBlobStore.rewrap(path, .upload(id), size: nil, encryption) }
    }
}

/// A chunk that does not start where the upload stands.
struct RangeMismatch: Error {
    let size: Int64
}
