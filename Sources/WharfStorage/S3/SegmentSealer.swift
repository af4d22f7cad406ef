import NIOCore
import WharfCore

import struct Crypto.SymmetricKey

/// Turns an upload segment's plaintext into what is stored of it and back: the bytes as they are, or chunks sealed
/// under the session's data key, numbered from the segment's place in the blob (the encrypted blob layout without its
/// header), so that the assembled object is exactly an encrypted blob file.
struct SegmentSealer: Sendable {
    /// nil: stored as plain text.
    let dataKey: SymmetricKey?

    /// `plain` sealed, its first byte at `offset` of the blob (a multiple of the chunk size).
    func seal(_ plain: ByteBuffer, at offset: Int64) throws -> ByteBuffer {
        guard let dataKey else { return plain }
        let cipher = ChunkCipher(key: dataKey)
        let chunkSize = EncryptedLayout.chunkSize
        var output = ByteBufferAllocator().buffer(
            capacity: Int(EncryptedLayout.fileSize(plaintext: Int64(plain.readableBytes))) - BlobHeader.size)
        try plain.withUnsafeReadableBytes { raw in
            for start in stride(from: 0, to: raw.count, by: chunkSize) {
                let chunk = UnsafeRawBufferPointer(rebasing: raw[start..<min(start + chunkSize, raw.count)])
                try EncryptedLayout.seal(chunk, index: (offset + Int64(start)) / Int64(chunkSize), with: cipher, into: &output)
            }
        }
        return output
    }

    /// The plaintext of `stored`, sealed at `offset`; throws when a chunk does not authenticate.
    func open(_ stored: ByteBuffer, at offset: Int64, name: String) throws -> ByteBuffer {
        guard let dataKey else { return stored }
        let cipher = ChunkCipher(key: dataKey)
        var output = ByteBufferAllocator().buffer(capacity: stored.readableBytes)
        try stored.withUnsafeReadableBytes { raw in
            for (number, start) in stride(from: 0, to: raw.count, by: EncryptedLayout.stride).enumerated() {
                let sealed = UnsafeRawBufferPointer(rebasing: raw[start..<min(start + EncryptedLayout.stride, raw.count)])
                let index = offset / Int64(EncryptedLayout.chunkSize) + Int64(number)
                guard let plain = try? EncryptedLayout.open(sealed, index: index, with: cipher) else {
                    throw RegistryError.internalError("\(name): chunk \(index) does not authenticate")
                }
                output.writeBytes(plain)
            }
        }
        return output
    }
}
