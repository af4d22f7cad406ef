import AsyncHTTPClient
import NIOCore
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

/// A stored blob read by Range GETs; encrypted, the chunks a read touches are fetched and opened.
struct S3BlobObject: BlobReader {
    let s3: S3Client
    let key: String
    let digest: WharfCore.Digest
    let size: Int64
    let dataKey: SymmetricKey?

    func read(at offset: Int64, count: Int) async throws -> ByteBuffer {
        let end = min(offset + Int64(count), size)
        guard offset < end else { return ByteBuffer() }
        guard let dataKey else {
            return try await s3.get(key, range: offset...(end - 1)).body.collect(upTo: Int(end - offset))
        }
        let chunks = EncryptedLayout.chunks(from: offset, to: end)
        let storedEnd = min(chunks.storedEnd, EncryptedLayout.fileSize(plaintext: size))
        let sealed = try await s3.get(key, range: chunks.storedStart...(storedEnd - 1)).body.collect(
            upTo: Int(storedEnd - chunks.storedStart))
        return try EncryptedLayout.plaintext(of: sealed, chunks: chunks, from: offset, to: end, key: dataKey, blob: digest)
    }

    func close() {}
}
