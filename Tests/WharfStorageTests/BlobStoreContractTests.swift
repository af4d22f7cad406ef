import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import Synchronization
import Testing
import WharfCore

@testable import WharfStorage

/// The contract of a blob store, the same for each: files or an S3 bucket (RGW, see `S3ClientTests`), plain or
/// encrypted. What one store does, another must do, so nothing above the store can tell them apart.
@Suite struct BlobStoreContractTests {
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case files, encryptedFiles, s3, encryptedS3
        var testDescription: String { rawValue }
        var encrypted: Bool { self == .encryptedFiles || self == .encryptedS3 }
    }

    /// Runs `body` on a new, empty store of `kind`, then removes it.
    static func withStore(_ kind: Kind, _ body: (any BlobStore) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("blobstore-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let encryption =
            kind.encrypted
            ? try BlobEncryption(
                provider: KeyringDirectory(path: "\(directory)/keys"), createFirstKey: true, recorded: [],
                logger: Logger(label: "test")) : nil
        switch kind {
        case .files, .encryptedFiles:
            try await body(try FileBlobStore(root: directory, encryption: encryption))
        case .s3, .encryptedS3:
            let url = try #require(S3ClientTests.endpoint, "no S3 server: see S3ClientTests")
            let s3 = try S3Client(
                endpoint: .init(url: url, bucket: "wharf-\(UUID().uuidString.lowercased())", region: "us-east-1"),
                credentials: S3ClientTests.credentials)
            do {
                try await s3.createBucket()
                try await body(S3BlobStore(s3: s3, prefix: "registry/", encryption: encryption))
            } catch {
                try await s3.shutdown()
                throw error
            }
            try await s3.shutdown()
        }
    }

    static func blob(_ count: Int, seed: UInt8) -> (bytes: [UInt8], digest: Digest) {
        let bytes = S3ClientTests.bytes(count, seed: seed)
        return (bytes, Digest.of(bytes))
    }

    @Test(arguments: Kind.allCases) func aWrittenBlobReadsBackWholeAndInRanges(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            // Three and a half encryption chunks, so ranges cross chunk borders and end in the short last one.
            let (bytes, digest) = Self.blob(224 << 10, seed: 3)
            #expect(try await store.size(of: digest) == nil)
            #expect(try await store.open(digest, size: Int64(bytes.count)) == nil)
            try await store.write(bytes, as: digest)
            let stored = Int64(kind.encrypted ? EncryptedLayout.fileSize(plaintext: Int64(bytes.count)) : Int64(bytes.count))
            #expect(try await store.size(of: digest) == stored)
            #expect(try await store.readAll(digest, size: Int64(bytes.count)) == bytes)
            #expect(try await store.hash(digest, size: Int64(bytes.count)) == digest)

            let reader = try #require(try await store.open(digest, size: Int64(bytes.count)))
            defer { reader.close() }
            #expect(reader.size == Int64(bytes.count))
            for (offset, count) in [(0, 1), (65_535, 2), (100_000, 100_000), (196_608, 40_000), (229_375, 10), (229_376, 5)] {
                let read = try await reader.read(at: Int64(offset), count: count)
                let expected = bytes[min(offset, bytes.count)..<min(offset + count, bytes.count)]
                #expect(Array(read.readableBytesView) == Array(expected), "\(kind) \(offset)+\(count)")
            }
        }
    }

    @Test(arguments: Kind.allCases) func announcedReadsInOrderReadTheSameBytes(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            let (bytes, digest) = Self.blob(3 << 20 + 12_345, seed: 5)
            try await store.write(bytes, as: digest)
            // A whole download, one starting inside a chunk, one ending inside a chunk, and one inside a single chunk.
            for (start, end) in [(0, bytes.count), (100_000, bytes.count), (70_000, 2_200_000), (1_048_580, 1_048_600)] {
                let reader = try #require(try await store.open(digest, size: Int64(bytes.count)))
                defer { reader.close() }
                let sent = (store as? S3BlobStore)?.s3.requestsSent.load(ordering: .relaxed)
                reader.willRead(from: Int64(start), to: Int64(end))
                var offset = Int64(start)
                var read: [UInt8] = []
                while offset < Int64(end) {
                    let piece = try await reader.read(at: offset, count: BlobWindow.at(offset, end: Int64(end)))
                    read += piece.readableBytesView
                    offset += Int64(piece.readableBytes)
                }
                #expect(read == Array(bytes[start..<end]), "\(kind) \(start)..<\(end)")
                if let sent, let s3 = (store as? S3BlobStore)?.s3 {
                    // One GET for the range, however many reads it took.
                    #expect(s3.requestsSent.load(ordering: .relaxed) - sent == 1, "\(kind) \(start)..<\(end)")
                }
            }
            // A read elsewhere still answers, by a request of its own.
            let reader = try #require(try await store.open(digest, size: Int64(bytes.count)))
            defer { reader.close() }
            reader.willRead(from: 0, to: 1000)
            let elsewhere = try await reader.read(at: 2_000_000, count: 10)
            #expect(Array(elsewhere.readableBytesView) == Array(bytes[2_000_000..<2_000_010]))
            #expect(Array(try await reader.read(at: 0, count: 1000).readableBytesView) == Array(bytes[0..<1000]))
        }
    }

    @Test(arguments: Kind.allCases) func listingsNameEveryBlobAndDeletesRemoveThem(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            let blobs = (0..<3).map { Self.blob(1000 + $0, seed: UInt8($0)) }
            let before = Date().timeIntervalSince1970 - 60
            for blob in blobs { try await store.write(blob.bytes, as: blob.digest) }
            let listed = try await store.listBlobs()
            #expect(Set(listed.blobs.keys) == Set(blobs.map(\.digest)) && listed.junk.isEmpty)
            #expect(listed.blobs.values.allSatisfy { $0.modified > before })
            try await store.delete(blobs[0].digest)
            try await store.delete(blobs[0].digest)  // gone already: no error
            #expect(try await store.size(of: blobs[0].digest) == nil)
            #expect(Set(try await store.listBlobs().blobs.keys) == Set(blobs.dropFirst().map(\.digest)))
        }
    }

    @Test(arguments: [Kind.encryptedFiles, .encryptedS3]) func anEncryptedBlobIsNotItsPlaintext(kind: Kind) async throws {
        try await Self.withStore(kind) { store in
            let (bytes, digest) = Self.blob(70_000, seed: 9)
            try await store.write(bytes, as: digest)
            // Read as if it were plain: the stored bytes are not the blob's.
            let raw: [UInt8]
            if let s3 = store as? S3BlobStore {
                raw = Array(buffer: try await s3.s3.get(s3.key(of: digest)).body.collect(upTo: 1 << 20))
            } else {
                let files = try #require(store as? FileBlobStore)
                raw = Array(try Data(contentsOf: URL(fileURLWithPath: files.path(of: digest))))
            }
            #expect(raw.count == Int(EncryptedLayout.fileSize(plaintext: 70_000)))
            #expect(Array(raw.prefix(8)) == Array("WHARFENC".utf8))
            #expect(raw.firstRange(of: bytes[1000..<1032]) == nil)
        }
    }
}
