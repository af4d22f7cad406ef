import AsyncHTTPClient
import NIOCore
import Synchronization
import WharfCore

import struct Crypto.SymmetricKey

/// Committed blobs as objects of an S3 bucket, named as on a file system: `<prefix>blobs/<algorithm>/<first two
/// hex>/<hex>`. S3 shows an object whole or not at all, so one PUT is a durable, atomic commit. Encrypted blobs keep
/// the file layout (header, then sealed chunks), so a Range read fetches the header and only the chunks it needs.
package struct S3BlobStore: BlobStore {
    package let s3: S3Client
    /// Put before every key, such as `registry/` (empty for the bucket's root).
    package let prefix: String
    /// nil: new objects are written in plain text.
    package let encryption: BlobEncryption?

    package init(s3: S3Client, prefix: String, encryption: BlobEncryption?) {
        self.s3 = s3
        self.prefix = prefix
        self.encryption = encryption
    }

    package func key(of digest: Digest) -> String {
        "\(prefix)blobs/\(digest.algorithm.rawValue)/\(digest.hex.prefix(2))/\(digest.hex)"
    }

    package func size(of digest: Digest) async throws -> Int64? { try await s3.size(of: key(of: digest)) }

    package func open(_ digest: Digest, size: Int64) async throws -> (any BlobReader)? {
        let key = key(of: digest)
        // The header and the object's size in one request: an encrypted blob's open is one round trip, as a plain one's.
        guard let (head, stored) = try await s3.firstBytes(of: key, count: BlobHeader.size) else { return nil }
        if stored == size { return S3BlobObject(s3: s3, key: key, digest: digest, size: size, dataKey: nil) }
        guard stored == EncryptedLayout.fileSize(plaintext: size) else {
            throw RegistryError.internalError("blob \(digest) has an unexpected size in the bucket")
        }
        guard let encryption else { throw RegistryError.internalError("blob \(digest) is encrypted and encryption is off") }
        let header = try BlobHeader(parsing: Array(buffer: head), path: key)
        let dataKey = try header.dataKey(binding: .blob(digest, size: size), keys: encryption).key
        return S3BlobObject(s3: s3, key: key, digest: digest, size: size, dataKey: dataKey)
    }

    package func write(_ bytes: [UInt8], as digest: Digest) async throws {
        let stored =
            try encryption.map { try EncryptedLayout.seal(bytes, binding: .blob(digest, size: Int64(bytes.count)), keys: $0) }
            ?? bytes
        try await s3.put(key(of: digest), body: .bytes(stored), length: Int64(stored.count))
    }

    package func delete(_ digest: Digest) async throws { try await s3.delete(key(of: digest)) }

    package func quarantine(_ digest: Digest) async throws -> String {
        let target = "\(prefix)quarantine/\(digest.algorithm.rawValue)-\(digest.hex)"
        try await s3.copy(key(of: digest), to: target)
        try await s3.delete(key(of: digest))
        return target
    }

    package func reclaim(_ digest: Digest, unless isKnown: () async throws -> Bool) async throws -> Bool {
        let aside = "\(prefix)uploads/orphan-\(digest.hex)"
        guard (try? await s3.copy(key(of: digest), to: aside)) != nil else { return false }
        try await s3.delete(key(of: digest))
        if try await isKnown() {
            try await s3.copy(aside, to: key(of: digest))
            try await s3.delete(aside)
            return false
        }
        try await s3.delete(aside)
        return true
    }

    package func listBlobs() async throws -> (blobs: [Digest: StoredBlob], junk: [String]) {
        var blobs = [Digest: StoredBlob]()
        var junk = [String]()
        var token: String?
        repeat {
            let page = try await s3.list(prefix: prefix + "blobs/", after: token)
            for object in page.objects {
                let parts = object.key.dropFirst(prefix.count + "blobs/".count).split(separator: "/")
                if parts.count == 3, parts[2].hasPrefix(parts[1]), let digest = try? Digest("\(parts[0]):\(parts[2])") {
                    blobs[digest] = StoredBlob(path: object.key, modified: object.modified, size: object.size)
                } else {
                    junk.append(object.key)
                }
            }
            token = page.next
        } while token != nil
        return (blobs, junk)
    }
}

/// A stored blob read by Range GETs; encrypted, the chunks a read touches are fetched and opened. Reads announced
/// by `willRead` come from one GET of the whole range: a download costs one request to the bucket, not one per read.
final class S3BlobObject: BlobReader {
    let s3: S3Client
    let key: String
    let digest: WharfCore.Digest
    let size: Int64
    let dataKey: SymmetricKey?
    /// The announced range's stored bytes, and once the first read started it, its GET.
    private let announced = Mutex<(stored: Range<Int64>, stream: S3ObjectStream?)?>(nil)

    init(s3: S3Client, key: String, digest: WharfCore.Digest, size: Int64, dataKey: SymmetricKey?) {
        self.s3 = s3
        self.key = key
        self.digest = digest
        self.size = size
        self.dataKey = dataKey
    }

    func willRead(from offset: Int64, to end: Int64) {
        let end = min(end, size)
        guard offset < end else { return }
        announced.withLock { $0 = (stored(offset, end), nil) }
    }

    func read(at offset: Int64, count: Int) async throws -> ByteBuffer {
        let end = min(offset + Int64(count), size)
        guard offset < end else { return ByteBuffer() }
        let stored = stored(offset, end)
        let sealed = try await storedBytes(stored)
        guard let dataKey else { return sealed }
        return try EncryptedLayout.plaintext(
            of: sealed, chunks: EncryptedLayout.chunks(from: offset, to: end), from: offset, to: end, key: dataKey,
            blob: digest)
    }

    func close() { announced.withLock { $0 = nil } }

    /// Where plaintext `offset..<end` is stored: itself, or the whole chunks holding it.
    private func stored(_ offset: Int64, _ end: Int64) -> Range<Int64> {
        guard dataKey != nil else { return offset..<end }
        let chunks = EncryptedLayout.chunks(from: offset, to: end)
        return chunks.storedStart..<min(chunks.storedEnd, EncryptedLayout.fileSize(plaintext: size))
    }

    /// The object's bytes `stored`: from the announced range's GET when they come next in it, else by a GET of their own.
    private func storedBytes(_ stored: Range<Int64>) async throws -> ByteBuffer {
        // The stream leaves the lock while it is read: a concurrent read (none is expected) makes its own GET.
        let taken = announced.withLock { announced -> (end: Int64, stream: S3ObjectStream?)? in
            guard let range = announced, range.stored.contains(stored.lowerBound), stored.upperBound <= range.stored.upperBound
            else { return nil }
            announced = (range.stored, nil)
            return (range.stored.upperBound, range.stream)
        }
        guard let (end, taken) = taken else {
            return try await s3.get(key, range: stored.lowerBound...(stored.upperBound - 1)).body.collect(upTo: stored.count)
        }
        // A GET left waiting on a slow client may have timed out, or lost its connection: then a new one goes on.
        if let taken, taken.position == stored.lowerBound, let bytes = try? await taken.next(stored.count) {
            keep(taken, end: end)
            return bytes
        }
        let stream = try await S3ObjectStream(s3, key: key, range: stored.lowerBound..<end)
        let bytes = try await stream.next(stored.count)
        keep(stream, end: end)
        return bytes
    }

    /// Puts the stream back for the next read, unless another range was announced meanwhile.
    private func keep(_ stream: S3ObjectStream, end: Int64) {
        announced.withLock { announced in
            if let range = announced, range.stored.upperBound == end { announced = (range.stored, stream) }
        }
    }
}
