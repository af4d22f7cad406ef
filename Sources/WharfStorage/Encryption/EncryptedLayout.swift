import Crypto
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

    /// The chunks `first...last`, and where they are stored (`storedEnd` past a short last chunk's end).
    struct ChunkSpan {
        let first: Int64
        let last: Int64
        var storedStart: Int64 { EncryptedLayout.offset(ofChunk: first) }
        var storedEnd: Int64 { EncryptedLayout.offset(ofChunk: last + 1) }
    }

    /// The chunks holding plaintext `offset..<end`.
    static func chunks(from offset: Int64, to end: Int64) -> ChunkSpan {
        ChunkSpan(first: offset / Int64(chunkSize), last: (end - 1) / Int64(chunkSize))
    }

    /// Plaintext `offset..<end` from `sealed`, the stored bytes of `chunks` (the last one may be short): a read of a
    /// file or of an object's range. Throws rather than return bytes that do not authenticate.
    static func plaintext(
        of sealed: ByteBuffer, chunks: ChunkSpan,
        from offset: Int64, to end: Int64, key: SymmetricKey, blob digest: WharfCore.Digest
    ) throws -> ByteBuffer {
        let cipher = ChunkCipher(key: key)
        var output = ByteBufferAllocator().buffer(capacity: Int(end - offset))
        var scratch = [UInt8]()
        try sealed.withUnsafeReadableBytes { raw in
            for index in chunks.first...chunks.last {
                let from = Int(self.offset(ofChunk: index) - chunks.storedStart)
                let chunk = UnsafeRawBufferPointer(rebasing: raw[min(from, raw.count)..<min(from + stride, raw.count)])
                let plainCount = chunk.count - overhead
                let chunkStart = index * Int64(chunkSize)
                let lower = Int(max(offset, chunkStart) - chunkStart)
                let upper = Int(min(end, chunkStart + Int64(plainCount)) - chunkStart)
                guard plainCount >= 0, lower <= upper else {
                    throw RegistryError.internalError("blob \(digest) ends early in storage")
                }
                do {
                    if lower == 0 && upper == plainCount {
                        // The whole chunk is wanted: decrypt straight into the output.
                        try output.writeWithUnsafeMutableBytes(minimumWritableBytes: plainCount) { target in
                            try open(
                                chunk, index: index, with: cipher,
                                into: UnsafeMutableRawBufferPointer(rebasing: target[0..<plainCount]))
                            return plainCount
                        }
                    } else {
                        scratch = try open(chunk, index: index, with: cipher)
                        output.writeBytes(scratch[lower..<upper])
                    }
                } catch is ChunkAuthenticationFailed {
                    throw RegistryError.internalError(
                        "blob \(digest): chunk \(index) does not authenticate; it was altered or damaged")
                }
            }
        }
        return output
    }

    /// `bytes` as an encrypted blob is stored: a header holding a new data key wrapped by the active master key for
    /// `binding`, then the sealed chunks. For bytes already in memory (a manifest written whole).
    static func seal(_ bytes: [UInt8], binding: KeyBinding, keys: BlobEncryption) throws -> [UInt8] {
        let dataKey = BlobEncryption.newDataKey()
        let header = try BlobHeader.new(dataKey: dataKey, binding: binding, master: keys.active)
        var output = ByteBufferAllocator().buffer(capacity: Int(fileSize(plaintext: Int64(bytes.count))))
        output.writeBytes(header.encoded)
        let cipher = ChunkCipher(key: dataKey)
        try bytes.withUnsafeBytes { raw in
            for (index, start) in Swift.stride(from: 0, to: raw.count, by: chunkSize).enumerated() {
                let chunk = UnsafeRawBufferPointer(rebasing: raw[start..<min(start + chunkSize, raw.count)])
                try seal(chunk, index: Int64(index), with: cipher, into: &output)
            }
        }
        return Array(output.readableBytesView)
    }

    static func associatedData(_ index: Int64) -> [UInt8] {
        withUnsafeBytes(of: UInt64(index).bigEndian) { Array("wharf chunk v1 ".utf8) + Array($0) }
    }
}

/// A chunk whose authentication tag does not match: the bytes on disk are not what was written.
struct ChunkAuthenticationFailed: Error {}
