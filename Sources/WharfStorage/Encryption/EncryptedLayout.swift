import Foundation
import NIOCore
import WharfCore

/// The layout of an encrypted blob file:
///
///     header (176 bytes)                 magic, version, chunk size, two key slots (BlobHeader)
///     chunk 0, chunk 1, …                nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16)
///
/// Every chunk but the last holds `chunkSize` plaintext bytes, so the chunk holding any offset is found by
/// arithmetic and a Range read decrypts only the chunks it touches. Each chunk is sealed under the blob's data
/// key with a fresh random nonce and its index as associated data: chunks cannot be reordered, and the size
/// bound into the key wrapping (`KeyBinding`) exposes dropped or truncated ones.
enum EncryptedLayout {
    static let chunkSize = 64 * 1024
    static let nonceSize = 12
    static let tagSize = 16
    static let overhead = nonceSize + tagSize
    static let stride = chunkSize + overhead

    /// The size of the encrypted file holding `plaintext` bytes.
    static func fileSize(plaintext: Int64) -> Int64 {
        let full = plaintext / Int64(chunkSize)
        let rest = plaintext % Int64(chunkSize)
        return Int64(BlobHeader.size) + full * Int64(stride) + (rest > 0 ? rest + Int64(overhead) : 0)
    }

    static func offset(ofChunk index: Int64) -> Int64 { Int64(BlobHeader.size) + index * Int64(stride) }

    /// Seals one chunk of plaintext and appends nonce ‖ ciphertext ‖ tag to `output`.
    static func seal(_ plaintext: UnsafeRawBufferPointer, index: Int64, with cipher: ChunkCipher, into output: inout ByteBuffer)
        throws
    {
        let size = plaintext.count + overhead
        try output.writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            try cipher.seal(
                plaintext, authenticating: associatedData(index), into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<size]))
            return size
        }
    }

    /// Opens one sealed chunk into `output` (its plaintext size); throws when it was altered, moved or sealed under
    /// another key.
    static func open(
        _ sealed: UnsafeRawBufferPointer, index: Int64, with cipher: ChunkCipher, into output: UnsafeMutableRawBufferPointer
    ) throws(ChunkAuthenticationFailed) {
        try cipher.open(sealed, authenticating: associatedData(index), into: output)
    }

    /// Opens one sealed chunk into a new array; throws `ChunkAuthenticationFailed` as above.
    static func open(_ sealed: UnsafeRawBufferPointer, index: Int64, with cipher: ChunkCipher) throws -> [UInt8] {
        guard sealed.count >= overhead else { throw ChunkAuthenticationFailed() }
        return try [UInt8](unsafeUninitializedCapacity: sealed.count - overhead) { buffer, count in
            try open(sealed, index: index, with: cipher, into: UnsafeMutableRawBufferPointer(buffer))
            count = buffer.count
        }
    }

    static func associatedData(_ index: Int64) -> [UInt8] {
        withUnsafeBytes(of: UInt64(index).bigEndian) { Array("wharf chunk v1 ".utf8) + Array($0) }
    }
}

/// A chunk whose authentication tag does not match: the bytes on disk are not what was written.
struct ChunkAuthenticationFailed: Error {}
