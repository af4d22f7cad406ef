import NIOCore
import WharfCore

/// Where committed blobs are kept, named by their digest: files under the data directory (`FileBlobStore`) or
/// objects in an S3 bucket (`S3BlobStore`). Every implementation passes the same contract tests. A stored blob is
/// either absent or exactly the bytes its digest names (encrypted, when encryption is on).
package protocol BlobStore: Sendable {
    /// The stored size of the blob (of its encrypted form when encrypted), or nil when it is absent.
    func size(of digest: Digest) async throws -> Int64?
    /// Opens the blob `digest` of `size` bytes (its plaintext) for reading; nil when it is absent.
    func open(_ digest: Digest, size: Int64) async throws -> (any BlobReader)?
    /// Stores bytes held in memory (a manifest, a config) as the blob they hash to, whole or not at all.
    func write(_ bytes: [UInt8], as digest: Digest) async throws
    func delete(_ digest: Digest) async throws
    /// Every stored blob, and whatever else is where only blobs should be.
    func listBlobs() async throws -> (blobs: [Digest: StoredBlob], junk: [String])
}

/// An open stored blob, read in ranges; an encrypted one is decrypted chunk by chunk, only the chunks a read touches.
package protocol BlobReader: Sendable {
    /// The blob's size (of its plaintext).
    var size: Int64 { get }
    /// Up to `count` bytes at `offset`; fewer only at the end. Throws rather than return bytes that do not
    /// authenticate.
    func read(at offset: Int64, count: Int) async throws -> ByteBuffer
    func close()
}

/// A stored blob as a listing finds it.
package struct StoredBlob: Sendable {
    /// Where it is: a file's path, or an object's key.
    package let path: String
    /// Seconds since 1970.
    package let modified: Double
    package let size: Int64
}

extension BlobStore {
    /// Reads a small blob (a manifest) whole.
    package func readAll(_ digest: Digest, size: Int64) async throws -> [UInt8]? {
        guard let blob = try await open(digest, size: size) else { return nil }
        defer { blob.close() }
        let buffer = try await blob.read(at: 0, count: Int(size))
        return Array(buffer.readableBytesView)
    }

    /// Hashes a stored blob's content (decrypted) in 1 MiB reads.
    package func hash(_ digest: Digest, size: Int64) async throws -> Digest? {
        guard let blob = try await open(digest, size: size) else { return nil }
        defer { blob.close() }
        var hasher = DigestHasher(digest.algorithm)
        var offset: Int64 = 0
        while offset < size {
            let chunk = try await blob.read(at: offset, count: Int(min(1 << 20, size - offset)))
            guard chunk.readableBytes > 0 else { break }
            chunk.withUnsafeReadableBytes { hasher.update($0) }
            offset += Int64(chunk.readableBytes)
        }
        return hasher.finalize()
    }
}
