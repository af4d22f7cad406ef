import NIOCore
import WharfCore

/// Key rotation on S3. An object cannot be changed in place, so a blob whose data key an older master key wraps is
/// written again under its key: the re-wrapped header, then its sealed chunks as they are (nothing is re-encrypted).
/// The first 5 MiB pass through Wharf; S3 copies the rest itself. S3 swaps the object whole, and a reader that opened
/// the old one reads the same chunks with the same data key from the new one.
extension S3BlobStore {
    /// What passes through Wharf: S3's smallest part but the last.
    static let rewrittenHead = 5 << 20

    package func wrappingKey(of digest: Digest, size: Int64) async throws -> WrappingKey {
        guard let encryption else { return .plain }
        let key = key(of: digest)
        guard let (head, stored) = try await s3.firstBytes(of: key, count: BlobHeader.size) else { return .absent }
        if stored == size { return .plain }
        return WrappingKey(try? BlobHeader(parsing: Array(buffer: head), path: key), .blob(digest, size: size), encryption)
    }

    /// Callers hold the commit gate, so that a sweep cannot delete the blob meanwhile (and have it written back).
    package func rewrap(_ digest: Digest, size: Int64) async throws -> RewrapOutcome {
        guard let encryption else { return .absent }
        let key = key(of: digest)
        guard let (head, stored) = try await s3.firstBytes(of: key, count: Self.rewrittenHead) else { return .absent }
        if stored == size { return .absent }  // plain text: nothing to re-wrap
        var first = head
        guard let headerBytes = first.readBytes(length: BlobHeader.size) else {
            throw RegistryError.internalError("\(key) is shorter than its encryption header")
        }
        var header = try BlobHeader(parsing: headerBytes, path: key)
        guard try header.rewrap(.blob(digest, size: size), encryption) != nil else { return .current }
        var object = ByteBuffer(bytes: header.encoded)
        object.writeBuffer(&first)
        if stored <= Int64(object.readableBytes) {
            try await s3.put(key, buffer: object)
        } else {
            try await s3.write(key, first: object, thenCopying: key, size: stored)
        }
        return .rewrapped
    }
}
