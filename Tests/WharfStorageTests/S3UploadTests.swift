import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import Testing
import WharfCore
import WharfTestSupport

@testable import WharfStorage

/// Upload sessions on S3 (RGW, see `S3ClientTests`), each request possibly on another instance: several registries
/// share one database and one bucket and nothing in memory, as instances on other machines would.
@Suite struct S3UploadTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-s3-uploads-\(UUID())").path
    let bucket = "wharf-\(UUID().uuidString.lowercased())"
    let repository = try! RepositoryName("team/app")
    static let segment = S3Uploads.segmentSize
    static let marker = "plaintext-marker-0123456789 "

    /// An instance of the cluster.
    func instance(encrypted: Bool) async throws -> Registry {
        let url = try #require(S3ClientTests.endpoint, "no S3 server: see S3ClientTests")
        let keys = EncryptionSettings(provider: KeyringDirectory(path: "\(directory)/keys"), createFirstKey: true)
        let storage = ObjectStorageSettings(
            endpoint: .init(url: url, bucket: bucket, region: "us-east-1"), credentials: S3ClientTests.credentials,
            prefix: "registry/")
        let registry = try Registry(
            configuration: StorageConfiguration(
                dataDirectory: directory, encryption: encrypted ? keys : nil, objectStorage: storage,
                postgres: try TestMetadata.database(for: directory)),
            logger: Logger(label: "test"))
        try await registry.prepareStorage()
        return registry
    }

    func withInstances(_ count: Int, encrypted: Bool = false, _ body: ([Registry]) async throws -> Void) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var instances = [Registry]()
        for _ in 0..<count { instances.append(try await instance(encrypted: encrypted)) }
        do {
            try await body(instances)
        } catch {
            for instance in instances { try? await instance.close() }
            throw error
        }
        for instance in instances { try await instance.close() }
    }

    static func s3(_ registry: Registry) -> S3Client { (registry.blobs as! S3BlobStore).s3 }

    /// `count` bytes of a repeated marker text, which no encrypted object may show.
    static func content(_ count: Int) -> [UInt8] {
        let unit = Array(marker.utf8)
        return [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            for index in 0..<count { buffer[index] = unit[index % unit.count] }
            initialized = count
        }
    }

    /// The bytes as a request body of 64 KiB reads.
    static func body(_ bytes: ArraySlice<UInt8>) -> AsyncStream<ByteBuffer> {
        [ByteBuffer](
            stride(from: bytes.startIndex, to: bytes.endIndex, by: 64 << 10).map { start in
                ByteBuffer(bytes: bytes[start..<min(start + (64 << 10), bytes.endIndex)])
            }
        ).async
    }

    /// Every object key in the bucket under `prefix`.
    static func keys(_ s3: S3Client, _ prefix: String) async throws -> [String] {
        try await s3.list(prefix: prefix).objects.map(\.key)
    }

    /// Whether any object in the bucket holds the marker in plain text.
    static func showsPlaintext(_ s3: S3Client) async throws -> Bool {
        for key in try await keys(s3, "") {
            let bytes = Data(buffer: try await s3.object(key, upTo: 64 << 20))
            if bytes.range(of: Data("plaintext-marker".utf8)) != nil { return true }
        }
        return false
    }

    @Test(arguments: [false, true]) func aChunkedUploadSpreadOverInstancesVerifiesAndReadsBack(encrypted: Bool)
        async throws
    {
        try await withInstances(3, encrypted: encrypted) { instances in
            // Two full segments and a short third, in chunks smaller and larger than a segment.
            let bytes = Self.content(2 * Self.segment + 12_345)
            let digest = Digest.of(bytes)
            let id = try await instances[0].startUpload(repository)
            var offset = 0
            for (index, count) in [1 << 20, (3 << 20) + 7, 5 << 20, 4 << 20, bytes.count - (13 << 20) - 7].enumerated() {
                let instance = instances[index % 3]
                let size = try await instance.appendUpload(
                    repository, id, start: Int64(offset), length: Int64(count),
                    body: Self.body(bytes[offset..<offset + count]))
                offset += count
                #expect(size == Int64(offset))
                #expect(try await instances[(index + 1) % 3].uploadSize(repository, id) == Int64(offset))
            }
            let s3 = Self.s3(instances[0])
            #expect(try await Self.showsPlaintext(s3) == !encrypted)
            try await instances[2].completeUpload(repository, id, digest: digest, body: nil as AsyncStream<ByteBuffer>?)

            let blob = try await instances[1].openBlob(repository, digest)
            #expect(blob.size == Int64(bytes.count))
            #expect(try await blob.digest(.sha256) == digest)
            let across = try await blob.read(at: Int64(Self.segment - 10), count: 20)
            #expect(Array(across.readableBytesView) == Array(bytes[(Self.segment - 10)..<(Self.segment + 10)]))
            #expect(try await Self.showsPlaintext(s3) == !encrypted)
            // Nothing of the session is left: no segment, tail or assembled object, and no multipart upload.
            #expect(try await Self.keys(s3, "registry/uploads/").isEmpty)
            #expect(try await s3.multipartUploads(prefix: "").isEmpty)
            await #expect(throws: RegistryError.self) { try await instances[0].uploadSize(repository, id) }
        }
    }

    @Test func aSmallBlobIsOnePut() async throws {
        try await withInstances(1, encrypted: true) { instances in
            let bytes = Self.content(100_000)
            let digest = Digest.of(bytes)
            try await instances[0].uploadBlob(repository, digest: digest, body: Self.body(bytes[...]))
            let s3 = Self.s3(instances[0])
            #expect(try await Self.keys(s3, "registry/") == ["registry/blobs/sha256/\(digest.hex.prefix(2))/\(digest.hex)"])
            #expect(try await instances[0].openBlob(repository, digest).digest(.sha256) == digest)
        }
    }

    @Test func aDigestMismatchKeepsNothing() async throws {
        try await withInstances(2) { instances in
            let bytes = Self.content(Self.segment * 2 + 5)
            let wrong = Digest.of(Array("something else".utf8))
            let id = try await instances[0].startUpload(repository)
            _ = try await instances[0].appendUpload(repository, id, start: 0, length: nil, body: Self.body(bytes[...]))
            await #expect {
                try await instances[1].completeUpload(repository, id, digest: wrong, body: nil as AsyncStream<ByteBuffer>?)
            } throws: { ($0 as? RegistryError)?.code == .digestInvalid }
            let s3 = Self.s3(instances[0])
            #expect(try await Self.keys(s3, "registry/").isEmpty)
            #expect(try await s3.multipartUploads(prefix: "").isEmpty)
            await #expect(throws: RegistryError.self) { try await instances[0].uploadSize(repository, id) }
        }
    }

    /// A body that ends in an error after `bytes`, as a client that goes away does.
    static func brokenBody(_ bytes: ArraySlice<UInt8>) -> AsyncThrowingStream<ByteBuffer, any Error> {
        AsyncThrowingStream { continuation in
            for start in stride(from: bytes.startIndex, to: bytes.endIndex, by: 64 << 10) {
                continuation.yield(ByteBuffer(bytes: bytes[start..<min(start + (64 << 10), bytes.endIndex)]))
            }
            continuation.finish(throwing: CancellationError())
        }
    }

    @Test func aFailedRequestLeavesTheSessionAsItWas() async throws {
        try await withInstances(2, encrypted: true) { instances in
            let bytes = Self.content(Self.segment * 3 + 999)
            let digest = Digest.of(bytes)
            let first = Self.segment + 100
            let id = try await instances[0].startUpload(repository)
            _ = try await instances[0].appendUpload(repository, id, start: 0, length: nil, body: Self.body(bytes[..<first]))
            // Cut off after sending two more segments on (a part uploaded): none of it counts.
            await #expect(throws: CancellationError.self) {
                _ = try await instances[1].appendUpload(
                    repository, id, start: Int64(first), length: nil,
                    body: Self.brokenBody(bytes[first..<first + 2 * Self.segment]))
            }
            #expect(try await instances[0].uploadSize(repository, id) == Int64(first))
            await #expect {
                _ = try await instances[0].appendUpload(repository, id, start: 5, length: nil, body: Self.body(bytes[5..<10]))
            } throws: { ($0 as? RegistryError)?.httpStatus == 416 }
            // A body shorter than its Content-Length: refused, nothing kept.
            await #expect(throws: RegistryError.self) {
                _ = try await instances[1].appendUpload(
                    repository, id, start: Int64(first), length: 10, body: Self.body(bytes[first..<first + 5]))
            }
            #expect(try await instances[1].uploadSize(repository, id) == Int64(first))
            try await instances[1].completeUpload(repository, id, digest: digest, body: Self.body(bytes[first...]))
            #expect(try await instances[0].openBlob(repository, digest).digest(.sha256) == digest)
        }
    }

    @Test func aSessionIsWrittenByOneRequestAtATime() async throws {
        try await withInstances(1) { instances in
            let registry = instances[0]
            let id = try await registry.startUpload(repository)
            // Held by a request elsewhere.
            guard case .claimed = try await registry.metadata.claimUpload(id: id, repository: repository, for: 60) else {
                Issue.record("the session could not be claimed")
                return
            }
            await #expect {
                _ = try await registry.appendUpload(repository, id, start: 0, length: nil, body: Self.body([1, 2, 3]))
            } throws: { ($0 as? RegistryError)?.httpStatus == 409 }
            // A request cut off elsewhere lets go moments later: a retry arriving meanwhile waits for it.
            let release = Task {
                try await Task.sleep(for: .milliseconds(300))
                try await registry.metadata.releaseUpload(id: id, state: nil)
            }
            #expect(try await registry.appendUpload(repository, id, start: 0, length: nil, body: Self.body([7])) == 1)
            try await release.value
            guard case .claimed = try await registry.metadata.claimUpload(id: id, repository: repository, for: 60) else {
                Issue.record("the session could not be claimed again")
                return
            }
            // That instance was killed: its claim runs out, and the session goes on.
            try await registry.metadata.database.write { db in
                try db.execute("UPDATE uploads SET claimed_until = 0 WHERE id = ?", [id])
            }
            #expect(try await registry.appendUpload(repository, id, start: 1, length: nil, body: Self.body([1, 2, 3])) == 4)
            await #expect(throws: RegistryError.self) {
                _ = try await registry.appendUpload(
                    try RepositoryName("other/repo"), id, start: nil, length: nil, body: Self.body([4]))
            }
        }
    }

    @Test func aDigestOfAnotherAlgorithmIsCheckedOverTheAssembledObject() async throws {
        try await withInstances(1, encrypted: true) { instances in
            let registry = instances[0]
            let bytes = Self.content(Self.segment + 77)
            let sha512 = Digest.of(bytes, algorithm: .sha512)
            let id = try await registry.startUpload(repository)  // hashing SHA-256
            _ = try await registry.appendUpload(repository, id, start: 0, length: nil, body: Self.body(bytes[...]))
            let wrong = Digest.of(Array("other".utf8), algorithm: .sha512)
            await #expect {
                try await registry.completeUpload(repository, id, digest: wrong, body: nil as AsyncStream<ByteBuffer>?)
            } throws: { ($0 as? RegistryError)?.code == .digestInvalid }
            #expect(try await Self.keys(Self.s3(registry), "registry/").isEmpty)

            let again = try await registry.startUpload(repository)
            _ = try await registry.appendUpload(repository, again, start: 0, length: nil, body: Self.body(bytes[...]))
            try await registry.completeUpload(repository, again, digest: sha512, body: nil as AsyncStream<ByteBuffer>?)
            #expect(try await registry.openBlob(repository, sha512).digest(.sha512) == sha512)
            #expect(try await Self.keys(Self.s3(registry), "registry/uploads/").isEmpty)
        }
    }

    @Test func thePurgeRemovesStaleSessionsAndWhatCrashesLeft() async throws {
        try await withInstances(1) { instances in
            let registry = instances[0]
            let s3 = Self.s3(registry)
            let bytes = Self.content(2 * Self.segment + 1)
            // A stale session with a multipart upload, and a live one (a request holds it) with one too.
            var sessions = [String]()
            for _ in 0..<2 {
                let id = try await registry.startUpload(repository)
                _ = try await registry.appendUpload(repository, id, start: 0, length: nil, body: Self.body(bytes[...]))
                sessions.append(id)
            }
            let (stale, live) = (sessions[0], sessions[1])
            guard case .claimed = try await registry.metadata.claimUpload(id: live, repository: repository, for: 60) else {
                Issue.record("the session could not be claimed")
                return
            }
            // What a crash leaves: objects and a multipart upload that no row names.
            try await s3.put("registry/uploads/crashed/tail-5", buffer: ByteBuffer(bytes: [1, 2, 3, 4, 5]))
            _ = try await s3.startMultipart("registry/uploads/crashed/blob")
            #expect(try await s3.multipartUploads(prefix: "").count == 3)
            try await Task.sleep(for: .milliseconds(1100))

            #expect(try await registry.purgeUploads(olderThan: .seconds(1)) == 1)
            #expect(Set(try await Self.keys(s3, "registry/uploads/").map { $0.split(separator: "/")[2] }) == [Substring(live)])
            let multiparts = try await s3.multipartUploads(prefix: "")
            #expect(multiparts.map(\.key) == ["registry/uploads/\(live)/blob"])
            await #expect(throws: RegistryError.self) { try await registry.uploadSize(repository, stale) }
            #expect(try await registry.uploadSize(repository, live) == Int64(bytes.count))
        }
    }
}
