import Foundation
import NIOCore
import WharfCore

/// Upload sessions on S3, carried on by any instance: each request claims the session's row, streams its bytes
/// into S3 a segment at a time (`S3SegmentWriter`), and saves where the session stands before giving the claim up.
///
/// Commit order, which never shows an unverified blob under a digest's key: the digest is checked over the bytes as
/// they streamed (the running hash is saved between requests); the object is assembled from exactly the parts whose
/// bytes were hashed (S3 names them by ETag), under the session's own key, and its size checked; only then, inside
/// the garbage-collection gate, is it copied to the digest's key and the metadata committed. A blob small enough for
/// one segment is checked the same way and written to its key in one PUT, which S3 shows whole or not at all.
struct S3Uploads: UploadStore {
    /// A multiple of the encryption chunk size, and at least S3's 5 MiB part minimum.
    static let segmentSize = 8 << 20
    /// S3's part-number limit, which with 8 MiB segments bounds an upload at 78 GiB.
    static let maxParts = 10_000
    /// How long a request's claim lasts unless renewed (at every part): no longer than this does a killed instance
    /// hold the sessions it was writing.
    static let claimSeconds: Double = 60

    let store: S3BlobStore
    let metadata: MetadataStore
    let gate: CommitGate
    let maxBlobBytes: Int64?

    var s3: S3Client { store.s3 }

    func key(_ id: String, _ name: String) -> String { "\(store.prefix)uploads/\(id)/\(name)" }

    func start(_ repository: RepositoryName, algorithm: Digest.Algorithm) async throws -> String {
        let id = UUID().uuidString.lowercased()
        let header = try store.encryption.map { keys in
            let dataKey = BlobEncryption.newDataKey()
            return Data(try BlobHeader.new(dataKey: dataKey, binding: .upload(id), master: keys.active).encoded)
        }
        let state = S3UploadState(size: 0, hash: ResumableHasher(algorithm).saved, header: header)
        try await metadata.insertUpload(id: id, repository: repository, encrypted: header != nil, state: state.encoded())
        return id
    }

    func size(_ repository: RepositoryName, _ id: String) async throws -> Int64 {
        guard let text = try await metadata.uploadState(id: id, repository: repository) else {
            throw RegistryError.blobUploadUnknown(id)
        }
        return try S3UploadState.decode(text).size
    }

    func append<Body: AsyncSequence>(
        _ repository: RepositoryName, _ id: String, start: Int64?, length: Int64?, body: Body
    ) async throws -> Int64 where Body.Element == ByteBuffer {
        var before: Int64 = 0
        let after = try await withClaim(repository, id) { state in
            if let start, start != state.size {
                throw RegistryError.blobUploadInvalid(
                    "Content-Range does not continue the upload at byte \(state.size)", status: 416)
            }
            before = state.size
            var writer = try await S3SegmentWriter(self, id: id, state: state)
            try await writer.write(body)
            if let length, writer.end - before != length {
                throw RegistryError.blobUploadInvalid("body length does not match Content-Range/Content-Length")
            }
            try await writer.saveTail()
            state = writer.state
            return .open
        }
        // The tail the session ended at before is replaced now that the row names the new one.
        if before != after.size, before % Int64(Self.segmentSize) != 0 {
            try? await s3.delete(key(id, "tail-\(before)"))
        }
        return after.size
    }

    func complete<Body: AsyncSequence>(
        _ repository: RepositoryName, _ id: String, digest: Digest, body: Body?, linkingTo target: RepositoryName?
    ) async throws where Body.Element == ByteBuffer {
        try await withClaim(repository, id) { state in
            var writer = try await S3SegmentWriter(self, id: id, state: state)
            if let body { try await writer.write(body) }
            // nil: the session hashed with another algorithm, so the assembled object is hashed instead.
            let matched = writer.hasher.algorithm == digest.algorithm ? writer.hasher.finalize() == digest : nil
            if matched == false { try await mismatch(id, state: writer.state, digest: digest) }
            let size = writer.end
            let header = try writer.dataKey.map { dataKey in
                try BlobHeader.new(dataKey: dataKey, binding: .blob(digest, size: size), master: store.encryption!.active)
                    .encoded
            }
            let blobKey = store.key(of: digest)
            let assembled: String?
            if matched == true, writer.fitsOnePut {
                assembled = nil
            } else {
                assembled = key(id, "blob")
                try await writer.assemble(at: assembled!, header: header ?? [])
                if matched == nil, try await hash(assembled!, writer: writer, claimed: digest) != digest {
                    try await mismatch(id, state: writer.state, digest: digest)
                }
            }
            try await gate.shared { [writer] in
                if try await store.size(of: digest) == nil {
                    if let assembled {
                        try await s3.copy(assembled, to: blobKey, size: writer.storedSize)
                    } else {
                        try await writer.assemble(at: blobKey, header: header ?? [])
                    }
                }
                try await metadata.finishUpload(id: id, target ?? repository, digest, size: size)
            }
            await removeObjects(id, multipart: writer.state.multipart)
            return .ended
        }
    }

    func cancel(_ repository: RepositoryName, _ id: String) async throws {
        try await withClaim(repository, id) { state in
            try await metadata.deleteUpload(id: id)
            await removeObjects(id, multipart: state.multipart)
            return .ended
        }
    }

    /// Removes sessions untouched since `ttl` ago, and whatever objects and multipart uploads under `uploads/` no
    /// session names (a crash between writing them and saving the row) once they are as old. Answers how many
    /// sessions were removed.
    func purge(olderThan ttl: Duration) async throws -> Int {
        let cutoff = Date().timeIntervalSince1970 - Double(ttl.components.seconds)
        let stale = try await metadata.staleUploads(before: cutoff)
        for (id, text) in stale {
            try await metadata.deleteUpload(id: id)
            await removeObjects(id, multipart: (try? S3UploadState.decode(text))?.multipart)
        }
        let states = try await metadata.uploadStates()
        let live = Set(states.keys)
        let liveMultiparts = Set(states.values.compactMap { (try? S3UploadState.decode($0))?.multipart })
        for (id, object) in try await storedUploads() where object.modified < cutoff && !live.contains(id) {
            try await s3.delete(object.path)
        }
        for upload in try await s3.multipartUploads(prefix: store.prefix + "uploads/")
        where !liveMultiparts.contains(upload.upload) {
            guard let started = S3Client.seconds(upload.initiated), started < cutoff else { continue }
            try await s3.abortMultipart(upload.key, upload: upload.upload)
        }
        return stale.count
    }

    func storedUploads() async throws -> [(id: String, object: StoredBlob)] {
        let root = store.prefix + "uploads/"
        var stored = [(id: String, object: StoredBlob)]()
        var token: String?
        repeat {
            let page = try await s3.list(prefix: root, after: token)
            for object in page.objects {
                let id = String(object.key.dropFirst(root.count).prefix(while: { $0 != "/" }))
                stored.append((id, StoredBlob(path: object.key, modified: object.modified, size: object.size)))
            }
            token = page.next
        } while token != nil
        return stored
    }

    // MARK: Sessions

    private enum After { case open, ended }

    /// Runs `body` holding the session's claim, and saves the state it leaves (`.open`); on a failure the session
    /// stays as it was, with none of the request's bytes. Answers the state after.
    @discardableResult
    private func withClaim(
        _ repository: RepositoryName, _ id: String, _ body: (inout S3UploadState) async throws -> After
    ) async throws -> S3UploadState {
        var state = try await claim(repository, id)
        do {
            if try await body(&state) == .open { try await metadata.releaseUpload(id: id, state: state.encoded()) }
            return state
        } catch let error as RegistryError where error.code == .digestInvalid {
            throw error
        } catch {
            try? await metadata.releaseUpload(id: id, state: nil)
            throw error
        }
    }

    /// The session's state, claimed for this request. A claim held elsewhere is waited for a little: a client's retry
    /// through a load balancer can arrive before the instance serving the request it cut off has noticed and let go.
    private func claim(_ repository: RepositoryName, _ id: String) async throws -> S3UploadState {
        let deadline = ContinuousClock.now + Self.busyWait
        while true {
            switch try await metadata.claimUpload(id: id, repository: repository, for: Self.claimSeconds) {
            case .unknown: throw RegistryError.blobUploadUnknown(id)
            case .claimed(let text): return try S3UploadState.decode(text)
            case .busy where ContinuousClock.now < deadline: try await Task.sleep(for: .milliseconds(50))
            case .busy: throw RegistryError.blobUploadInvalid("another request is writing to this upload", status: 409)
            }
        }
    }

    static let busyWait = Duration.seconds(3)

    /// Ends a session whose bytes do not hash to the digest the client named: nothing of it is kept.
    private func mismatch(_ id: String, state: S3UploadState, digest: Digest) async throws -> Never {
        try await metadata.deleteUpload(id: id)
        await removeObjects(id, multipart: state.multipart)
        throw RegistryError.digestInvalid("provided digest did not match uploaded content", detail: digest.description)
    }

    /// Deletes the session's objects and multipart upload, as far as S3 lets it: what is left is purged later.
    private func removeObjects(_ id: String, multipart: String?) async {
        if let multipart { try? await s3.abortMultipart(key(id, "blob"), upload: multipart) }
        guard let page = try? await s3.list(prefix: key(id, "")) else { return }
        for object in page.objects { try? await s3.delete(object.key) }
    }

    /// The digest of the assembled object's plaintext, by the algorithm of `claimed` (named in errors).
    private func hash(_ key: String, writer: S3SegmentWriter, claimed: Digest) async throws -> Digest {
        let object = S3BlobObject(s3: s3, key: key, digest: claimed, size: writer.end, dataKey: writer.dataKey)
        return try await object.digest(claimed.algorithm)
    }
}
