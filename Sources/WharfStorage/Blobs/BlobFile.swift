import Crypto
import NIOCore
import WharfCore

/// An open committed blob, read in ranges; an encrypted one is decrypted chunk by chunk, only the chunks a read
/// touches.
package struct BlobFile: Sendable {
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
        return try await blockingIO { [digest] () throws -> ByteBuffer in
            let chunkSize = Int64(EncryptedLayout.chunkSize)
            let first = offset / chunkSize
            let last = (end - 1) / chunkSize
            let start = EncryptedLayout.offset(ofChunk: first)
            let sealed = try file.read(
                count: Int(EncryptedLayout.offset(ofChunk: last + 1) - start), at: start, allocator: Self.allocator)
            let cipher = ChunkCipher(key: dataKey)
            var output = Self.allocator.buffer(capacity: Int(end - offset))
            var scratch = [UInt8]()
            try sealed.withUnsafeReadableBytes { raw in
                for index in first...last {
                    let from = Int(EncryptedLayout.offset(ofChunk: index) - start)
                    let chunk = UnsafeRawBufferPointer(
                        rebasing: raw[min(from, raw.count)..<min(from + EncryptedLayout.stride, raw.count)])
                    let plainCount = chunk.count - EncryptedLayout.overhead
                    let chunkStart = index * chunkSize
                    let lower = Int(max(offset, chunkStart) - chunkStart)
                    let upper = Int(min(end, chunkStart + Int64(plainCount)) - chunkStart)
                    guard plainCount >= 0, lower <= upper else {
                        throw RegistryError.internalError("blob \(digest) ends early on disk")
                    }
                    do {
                        if lower == 0 && upper == plainCount {
                            // The whole chunk is wanted: decrypt straight into the response buffer.
                            try output.writeWithUnsafeMutableBytes(minimumWritableBytes: plainCount) { target in
                                try EncryptedLayout.open(
                                    chunk, index: index, with: cipher,
                                    into: UnsafeMutableRawBufferPointer(rebasing: target[0..<plainCount]))
                                return plainCount
                            }
                        } else {
                            scratch = try EncryptedLayout.open(chunk, index: index, with: cipher)
                            output.writeBytes(scratch[lower..<upper])
                        }
                    } catch is ChunkAuthenticationFailed {
                        throw RegistryError.internalError(
                            "blob \(digest): chunk \(index) does not authenticate; its file was altered or damaged")
                    }
                }
            }
            return output
        }
    }

    package func close() { file.close() }
}
