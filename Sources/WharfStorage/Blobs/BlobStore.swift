import NIOCore
import WharfCore

/// Where committed blobs are kept, named by their digest: files under the data directory (`FileBlobStore`) or
/// objects in an S3 bucket (`S3BlobStore`). Every implementation passes the same contract tests. A stored blob is
/// either absent or exactly the bytes its digest names (encrypted, when encryption is on).
package protocol BlobStore: Sendable {
    /// nil: new blobs are written in plain text.
    var encryption: BlobEncryption? { get }
    /// The stored size of the blob (of its encrypted form when encrypted), or nil when it is absent.
    func size(of digest: Digest) async throws -> Int64?
    /// Opens the blob `digest` of `size` bytes (its plaintext) for reading; nil when it is absent.
    func open(_ digest: Digest, size: Int64) async throws -> (any BlobReader)?
    /// Stores bytes held in memory (a manifest, a config) as the blob they hash to, whole or not at all.
    func write(_ bytes: [UInt8], as digest: Digest) async throws
    func delete(_ digest: Digest) async throws
    /// Every stored blob, and whatever else is where only blobs should be.
    func listBlobs() async throws -> (blobs: [Digest: StoredBlob], junk: [String])
    /// Moves a corrupt blob out of the digests' namespace for an operator to look at; answers where it went.
    func quarantine(_ digest: Digest) async throws -> String
    /// Deletes an orphan blob unless `isKnown` finds it recorded by then: fsck runs beside the server, whose commit
    /// gate it cannot take, so the blob is moved aside first and put back if a push committed it meanwhile. Answers
    /// whether it was deleted.
    func reclaim(_ digest: Digest, unless isKnown: () async throws -> Bool) async throws -> Bool
    /// The master key wrapping the stored blob's data key (`keys status`, and retiring a key).
    func wrappingKey(of digest: Digest, size: Int64) async throws -> WrappingKey
    /// Wraps the stored blob's data key with the active master key, its content untouched (key rotation). Callers
    /// hold the commit gate.
    func rewrap(_ digest: Digest, size: Int64) async throws -> RewrapOutcome
}

/// An open stored blob, read in ranges; an encrypted one is decrypted chunk by chunk, only the chunks a read touches.
package protocol BlobReader: Sendable {
    /// The blob's size (of its plaintext).
    var size: Int64 { get }
    /// Up to `count` bytes at `offset`; fewer only at the end. Throws rather than return bytes that do not
    /// authenticate.
    func read(at offset: Int64, count: Int) async throws -> ByteBuffer
    /// Announces reads of `offset..<end` in order, each starting where the one before ended, such as a download's.
    /// A store that can fetch the range in one request then does (S3); reads elsewhere still work.
    func willRead(from offset: Int64, to end: Int64)
    func close()
}

extension BlobReader {
    package func willRead(from offset: Int64, to end: Int64) {}
}

/// A range of a blob read in order (a download, a hash): up to 1 MiB at a time, each read ending on a 1 MiB
/// boundary. After a first short read, every read then starts on a boundary of the encryption's chunks
/// (`EncryptedLayout`), so consecutive reads touch consecutive chunks and can come from one stream.
package enum BlobWindow {
    /// How much to read at `offset` of a range ending at `end`.
    package static func at(_ offset: Int64, end: Int64) -> Int {
        let size: Int64 = 1 << 20
        return Int(min(size - offset % size, end - offset))
    }
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

    /// Hashes a stored blob's content (decrypted).
    package func hash(_ digest: Digest, size: Int64) async throws -> Digest? {
        guard let blob = try await open(digest, size: size) else { return nil }
        defer { blob.close() }
        return try await blob.digest(digest.algorithm)
    }
}

extension BlobReader {
    /// The digest of the whole content, read 1 MiB at a time.
    func digest(_ algorithm: Digest.Algorithm) async throws -> Digest {
        var hasher = DigestHasher(algorithm)
        var offset: Int64 = 0
        willRead(from: 0, to: size)
        while offset < size {
            let chunk = try await read(at: offset, count: BlobWindow.at(offset, end: size))
            guard chunk.readableBytes > 0 else { break }
            chunk.withUnsafeReadableBytes { hasher.update($0) }
            offset += Int64(chunk.readableBytes)
        }
        return hasher.finalize()
    }
}
