import Crypto
import NIOCore
import WharfCore

/// An open committed blob, read in ranges; an encrypted one is decrypted chunk by chunk, only the chunks a read
/// touches.
struct BlobFile: BlobReader {
    fileprivate let file: FileDescriptor
    let digest: WharfCore.Digest
    /// The blob's size (of its plaintext).
    package let size: Int64
    /// nil for a blob stored in plain text.
    let dataKey: SymmetricKey?
    private static let allocator = ByteBufferAllocator()

    init(file: FileDescriptor, digest: WharfCore.Digest, size: Int64, dataKey: SymmetricKey?) {
        self.file = file
        self.digest = digest
        self.size = size
        self.dataKey = dataKey
    }

    /// Up to `count` bytes at `offset`; fewer only at the end. Throws rather than return bytes that do not
    /// authenticate.
    package func read(at offset: Int64, count: Int) async throws -> ByteBuffer {
        let file = file
        guard let dataKey else {
            return try await blockingIO { try file.read(count: count, at: offset, allocator: Self.allocator) }
        }
        let end = min(offset + Int64(count), size)
        guard offset < end else { return Self.allocator.buffer(capacity: 0) }
        let chunks = EncryptedLayout.chunks(from: offset, to: end)
        return try await blockingIO { [digest] () throws -> ByteBuffer in
            let sealed = try file.read(
                count: Int(chunks.storedEnd - chunks.storedStart), at: chunks.storedStart, allocator: Self.allocator)
            return try EncryptedLayout.plaintext(
                of: sealed, chunks: chunks, from: offset, to: end, key: dataKey, blob: digest)
        }
    }

    package func close() { file.close() }
}
