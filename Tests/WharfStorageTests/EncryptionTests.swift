import Foundation
import NIOCore
import Synchronization
import Testing
import WharfCore

@testable import WharfStorage

/// At-rest encryption on a real data directory: what lands on disk, what reads back, and what must not.
@Suite struct EncryptionTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-crypt-\(UUID())").path
    static let chunk = EncryptedLayout.chunkSize
    static let marker = Array("MARKER-wharf-plaintext-7f3a".utf8)

    /// Three and a bit chunks of varied bytes, with the marker at the start, across the first chunk boundary and in
    /// the last, partial chunk.
    static let content: [UInt8] = {
        var bytes = (0..<(3 * chunk + 100)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 7) }
        for position in [0, chunk - 10, 3 * chunk + 50] {
            bytes.replaceSubrange(position..<position + marker.count, with: marker)
        }
        return bytes
    }()

    func open(keyDirectory: String? = nil) throws -> Registry {
        try openRegistry(directory, encrypted: true, keyDirectory: keyDirectory)
    }

    func buffer(_ bytes: ArraySlice<UInt8>) -> [ByteBuffer] { [ByteBuffer(bytes: bytes)] }

    /// Pushes `content` in pieces that start and end inside chunks and on their edges, restarting the registry in the
    /// middle (the partial chunk then comes back from its tail file).
    func pushInPieces(_ repository: RepositoryName) async throws -> Digest {
        let cuts = [0, 1, Self.chunk - 2, Self.chunk - 1, Self.chunk + 4, 2 * Self.chunk, 3 * Self.chunk + 7, Self.content.count]
        var registry = try open()
        let id = try await registry.startUpload(repository)
        for (start, end) in zip(cuts, cuts.dropFirst()) {
            let size = try await registry.appendUpload(
                repository, id, start: Int64(start), length: Int64(end - start), body: buffer(Self.content[start..<end]).async)
            #expect(size == Int64(end))
            if end == Self.chunk + 4 { registry = try open() }
        }
        let digest = Digest.of(Self.content)
        try await registry.completeUpload(repository, id, digest: digest, body: [ByteBuffer]().async)
        return digest
    }

    func read(_ registry: Registry, _ repository: RepositoryName, _ digest: Digest, _ range: Range<Int>) async throws
        -> [UInt8]
    {
        let file = try await registry.openBlob(repository, digest)
        defer { file.close() }
        return Array(try await file.read(at: Int64(range.lowerBound), count: range.count).readableBytesView)
    }

    /// Every regular file below the data directory whose bytes contain `needle`.
    func filesContaining(_ needle: [UInt8]) throws -> [String] {
        let paths = FileManager.default.enumerator(atPath: directory)?.allObjects as? [String] ?? []
        return paths.filter { path in
            guard let data = FileManager.default.contents(atPath: "\(directory)/\(path)") else { return false }
            return data.range(of: Data(needle)) != nil
        }
    }

    @Test func rangeReadsAreExactAtEveryChunkBoundary() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let repository = try RepositoryName("crypt/ranges")
        let digest = try await pushInPieces(repository)
        let registry = try open()
        let path = registry.files!.path(of: digest)
        #expect(FileSystem.size(path) == EncryptedLayout.fileSize(plaintext: Int64(Self.content.count)))
        let c = Self.chunk
        let end = Self.content.count
        let ranges: [Range<Int>] = [
            0..<end, 0..<1, 0..<c, 0..<c + 1, c - 1..<c, c - 1..<c + 1, c..<c + 1, c..<2 * c, c + 1..<2 * c - 1,
            5..<3 * c + 3, 2 * c - 1..<3 * c + 1, 3 * c..<end, 3 * c + 1..<end, end - 1..<end, end - 100..<end,
        ]
        for range in ranges {
            #expect(try await read(registry, repository, digest, range) == Array(Self.content[range]), "range \(range)")
        }
        // A read asking past the end gets what there is.
        #expect(try await read(registry, repository, digest, end - 3..<end + 50) == Array(Self.content[(end - 3)...]))
        #expect(try await registry.blobs.hash(digest, size: Int64(end)) == digest)
    }

    /// Empty blobs, blobs of exactly whole chunks and one byte either side, split on a chunk edge, and sha512.
    @Test(arguments: [0, 1, chunk - 1, chunk, chunk + 1, 2 * chunk])
    func sizesAtChunkEdgesRoundTrip(size: Int) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let repository = try RepositoryName("crypt/edges")
        let bytes = Array(Self.content.prefix(size))
        for algorithm in Digest.Algorithm.allCases {
            let registry = try open()
            let digest = Digest.of(bytes, algorithm: algorithm)
            let id = try await registry.startUpload(repository, algorithm: algorithm)
            let split = min(size, Self.chunk)
            _ = try await registry.appendUpload(repository, id, start: 0, length: nil, body: buffer(bytes[..<split]).async)
            try await open().completeUpload(repository, id, digest: digest, body: buffer(bytes[split...]).async)
            #expect(FileSystem.size(registry.files!.path(of: digest)) == EncryptedLayout.fileSize(plaintext: Int64(size)))
            #expect(try await read(registry, repository, digest, 0..<size) == bytes)
            #expect(try await registry.blobs.hash(digest, size: Int64(size)) == digest)
        }
    }

    /// Status requests read a session that another request is appending to; they must not change its file.
    @Test(.timeLimit(.minutes(1))) func statusDuringAnAppendLeavesTheUploadIntact() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let repository = try RepositoryName("crypt/status")
        let registry = try open()
        let id = try await registry.startUpload(repository)
        let pieces = (0..<24).map { index in (0..<(1 << 20) + 7).map { UInt8(truncatingIfNeeded: $0 &+ index) } }
        // Each piece waits for a status poll after the one before, so reads and appends interleave however slow the machine.
        let polls = PollCount()
        let body = AsyncStream<ByteBuffer> { continuation in
            Task {
                for (index, piece) in pieces.enumerated() {
                    while polls.value.load(ordering: .acquiring) < index { try? await Task.sleep(for: .milliseconds(1)) }
                    continuation.yield(ByteBuffer(bytes: piece))
                }
                continuation.finish()
            }
        }
        let sizes = try await withThrowingTaskGroup(of: Int.self) { group in
            group.addTask {
                _ = try await registry.appendUpload(repository, id, start: 0, length: nil, body: body)
                return 0
            }
            group.addTask {
                while try await registry.uploadSize(repository, id) < Int64(pieces.count * ((1 << 20) + 7)) {
                    polls.value.add(1, ordering: .releasing)
                }
                return polls.value.load(ordering: .acquiring)
            }
            return try await group.reduce(0, +)
        }
        #expect(sizes >= pieces.count - 1)
        let digest = Digest.of(pieces.flatMap { $0 })
        try await registry.completeUpload(repository, id, digest: digest, body: [ByteBuffer]().async)
        #expect(try await registry.blobs.hash(digest, size: Int64(pieces.count * ((1 << 20) + 7))) == digest)
    }

    @Test func noPlaintextReachesTheDisk() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let repository = try RepositoryName("crypt/marker")
        let layer = try await pushInPieces(repository)
        let registry = try open()
        let config = Array(#"{"note":"MARKER-wharf-plaintext-7f3a"}"#.utf8)
        try await registry.uploadBlob(repository, digest: Digest.of(config), body: buffer(config[...]).async)
        let image = Array(
            #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"c","digest":"\#(Digest.of(config))","size":\#(config.count)},"layers":[{"mediaType":"l","digest":"\#(layer)","size":\#(Self.content.count)}]}"#
                .utf8)
        _ = try await registry.putManifest(repository, reference: .tag(try Tag("v1")), contentType: nil, bytes: image)
        // A referrer whose annotation carries the marker: manifest content, so not in the database.
        let referrer = Array(
            #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"a/b","config":{"mediaType":"c","digest":"\#(Digest.of(config))","size":\#(config.count)},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(Digest.of(image))","size":\#(image.count)},"annotations":{"note":"MARKER-wharf-plaintext-7f3a"}}"#
                .utf8)
        _ = try await registry.putManifest(
            repository, reference: .digest(Digest.of(referrer)), contentType: nil, bytes: referrer)
        // An upload left in progress, its marker in a whole chunk and in the tail.
        let pending = try await registry.startUpload(repository)
        _ = try await registry.appendUpload(
            repository, pending, start: 0, length: nil, body: buffer(Self.content[0..<(Self.chunk + 30)]).async)

        #expect(try filesContaining(Self.marker) == [])
        // …and everything still reads back.
        let referrers = try await registry.referrers(repository, of: Digest.of(image), artifactType: nil)
        #expect(referrers.first?.annotations?["note"] == "MARKER-wharf-plaintext-7f3a")
        #expect(try await registry.manifest(repository, .tag(try Tag("v1"))).bytes == image)
        #expect(try await read(registry, repository, Digest.of(config), 0..<config.count) == config)
        #expect(try filesContaining(Array("wharf".utf8)).allSatisfy { $0.hasPrefix("wharf.db") })  // names only
    }

    @Test func alteredBytesNeverReadBack() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let repository = try RepositoryName("crypt/tamper")
        let registry = try open()
        let digest = Digest.of(Self.content)
        let path = registry.files!.path(of: digest)
        let stride = EncryptedLayout.stride
        let header = BlobHeader.size
        let alterations: [(String, (inout [UInt8]) -> Void)] = [
            ("one ciphertext byte flipped", { $0[header + stride + 500] ^= 0x01 }),
            ("one tag byte flipped", { $0[header + stride - 1] ^= 0x80 }),
            ("one nonce byte flipped", { $0[header + 2 * stride] ^= 0x01 }),
            (
                "two chunks swapped",
                { bytes in
                    let first = Array(bytes[header..<header + stride])
                    bytes.replaceSubrange(header..<header + stride, with: bytes[header + stride..<header + 2 * stride])
                    bytes.replaceSubrange(header + stride..<header + 2 * stride, with: first)
                }
            ),
            (
                "both wrapped data keys altered",
                { bytes in
                    for slot in 0..<2 { bytes[16 + slot * BlobHeader.slotSize + 40] ^= 0x01 }
                }
            ),
        ]
        for (name, alter) in alterations {
            try? FileManager.default.removeItem(atPath: path)
            try await registry.uploadBlob(repository, digest: digest, body: buffer(Self.content[...]).async)
            var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
            alter(&bytes)
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            await #expect(throws: RegistryError.self, "\(name)") {
                _ = try await read(registry, repository, digest, 0..<Self.content.count)
            }
            let report = try await StoreChecker(registry: registry).check(repair: false)
            #expect(report.corrupt == [digest], "\(name)")
        }
        // A file cut short no longer has the size of its blob.
        try? FileManager.default.removeItem(atPath: path)
        try await registry.uploadBlob(repository, digest: digest, body: buffer(Self.content[...]).async)
        try FileHandle(forWritingAtPath: path)!.truncate(atOffset: UInt64(header + 2 * stride))
        await #expect(throws: RegistryError.self) { _ = try await read(registry, repository, digest, 0..<10) }
    }

    @Test(.timeLimit(.minutes(2))) func rotationUnderLoadKeepsEveryBlobReadable() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let repository = try RepositoryName("crypt/rotate")
        let registry = try open()
        let oldKey = try #require(registry.blobs.encryption).active.id
        var blobs = [(Digest, [UInt8])]()
        for index in 0..<60 {
            let bytes = Array("blob \(index) ".utf8) + Array(Self.content.prefix(index * 3000))
            try await registry.uploadBlob(repository, digest: Digest.of(bytes), body: buffer(bytes[...]).async)
            blobs.append((Digest.of(bytes), bytes))
        }
        let pushed = blobs
        let open = try await registry.startUpload(repository)  // a session that outlives the rotation
        _ = try await registry.appendUpload(repository, open, start: 0, length: nil, body: buffer(Self.content[0..<99]).async)
        let report = try await withThrowingTaskGroup(of: RotationReport?.self) { group in
            group.addTask { try await registry.rotateKeys(newKey: true) }
            for worker in 0..<4 {
                group.addTask {
                    for round in 0..<25 {
                        let (digest, bytes) = pushed[(worker * 25 + round) % pushed.count]
                        #expect(try await read(registry, repository, digest, 0..<bytes.count) == bytes)
                        let fresh = Array("pushed during rotation \(worker) \(round)".utf8)
                        try await registry.uploadBlob(repository, digest: Digest.of(fresh), body: buffer(fresh[...]).async)
                    }
                    return nil
                }
            }
            var report: RotationReport?
            for try await result in group where result != nil { report = result }
            return try #require(report)
        }
        #expect(report.active != oldKey && report.skippedUploads.isEmpty)
        let status = try await registry.keyStatus()
        #expect(status.keys[oldKey] == 0 && status.keys[report.active] == 60 + 100 + 1)
        try await registry.retireKey(oldKey)
        #expect(!FileManager.default.fileExists(atPath: "\(directory)/keys/\(oldKey).key"))

        // Only the new key is left: a restarted registry reads every blob and the open session.
        let restarted = try self.open()
        for (digest, bytes) in blobs {
            #expect(try await restarted.blobs.hash(digest, size: Int64(bytes.count)) == digest)
        }
        let full = Digest.of(Array(Self.content[0..<200]))
        try await restarted.completeUpload(repository, open, digest: full, body: buffer(Self.content[99..<200]).async)
        #expect(try await read(restarted, repository, full, 0..<200) == Array(Self.content[0..<200]))
        #expect(try await StoreChecker(registry: restarted).check(repair: false).isClean)
    }

    @Test func encryptExistingEncryptsAPlainStoreInPlace() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let repository = try RepositoryName("crypt/existing")
        var digests = [Digest: [UInt8]]()
        do {
            let plain = try openRegistry(directory, encrypted: false)
            for index in 0..<20 {
                let bytes = Array("plain blob \(index) ".utf8) + Array(Self.content.prefix(index * 9000))
                try await plain.uploadBlob(repository, digest: Digest.of(bytes), body: buffer(bytes[...]).async)
                digests[Digest.of(bytes)] = bytes
            }
        }
        #expect(try filesContaining(Self.marker).count > 0)
        let registry = try open()
        #expect(try await registry.keyStatus().unencrypted == 20)
        // Plain blobs still read while encryption is on.
        for (digest, bytes) in digests { #expect(try await read(registry, repository, digest, 0..<bytes.count) == bytes) }
        let report = try await registry.encryptExisting()
        #expect(report.encrypted == 20 && report.corrupt.isEmpty)
        #expect(try await registry.encryptExisting().alreadyEncrypted == 20)
        #expect(try await registry.keyStatus().unencrypted == 0)
        #expect(try filesContaining(Self.marker) == [])
        for (digest, bytes) in digests { #expect(try await read(registry, repository, digest, 0..<bytes.count) == bytes) }
        #expect(try await StoreChecker(registry: registry).check(repair: false).isClean)
    }

    @Test func refusesToStartWithAWrongOrMissingKey() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = try open()
        let bytes = Array("secret".utf8)
        try await registry.uploadBlob(try RepositoryName("crypt/keys"), digest: Digest.of(bytes), body: buffer(bytes[...]).async)
        let used = try #require(registry.blobs.encryption).active.id

        let other = directory + "-otherkeys"
        defer { try? FileManager.default.removeItem(atPath: other) }
        _ = try KeyringDirectory(path: other).addActiveKey()
        #expect(throws: KeyError.self) { _ = try open(keyDirectory: other) }  // the wrong key
        #expect(throws: KeyError.self) { _ = try open(keyDirectory: other + "/none") }  // no key at all
        try FileManager.default.removeItem(atPath: "\(directory)/keys")
        do {
            _ = try open()  // the default would create a first key, but the store already has blobs
            Issue.record("opened a store whose key is gone")
        } catch let error as KeyError {
            #expect(error.description.contains(used) && error.description.contains("refusing to start"))
        }
    }
}

private final class PollCount: Sendable {
    let value = Atomic(0)
}
