import Crypto
import Foundation
import NIOCore
import Testing

@testable import WharfStorage

/// The chunks are standard AES-256-GCM: swift-crypto's `AES.GCM` opens what `ChunkCipher` sealed and the other way
/// round, and no chunk opens that was altered or sealed for another index.
@Suite struct ChunkCipherTests {
    @Test func chunksAreStandardAESGCM() throws {
        let key = SymmetricKey(size: .bits256)
        let cipher = ChunkCipher(key: key)
        for size in [0, 1, 4095, EncryptedLayout.chunkSize] {
            let plaintext = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            let associated = EncryptedLayout.associatedData(3)
            var sealed = ByteBuffer()
            try plaintext.withUnsafeBytes { try EncryptedLayout.seal($0, index: 3, with: cipher, into: &sealed) }
            #expect(sealed.readableBytes == size + EncryptedLayout.overhead)
            let ours = Array(sealed.readableBytesView)
            let theirs = try AES.GCM.seal(plaintext, using: key, authenticating: associated).combined!
            #expect(
                Array(try AES.GCM.open(AES.GCM.SealedBox(combined: ours), using: key, authenticating: associated)) == plaintext)
            for chunk in [ours, Array(theirs)] {
                try chunk.withUnsafeBytes { (raw) throws -> Void in
                    #expect(throws: ChunkAuthenticationFailed.self) { try EncryptedLayout.open(raw, index: 4, with: cipher) }
                    // A failed open leaves nothing behind that breaks the next one.
                    #expect(try EncryptedLayout.open(raw, index: 3, with: cipher) == plaintext)
                }
                var altered = chunk
                altered[altered.count / 2] ^= 0x20
                try altered.withUnsafeBytes { (raw) throws -> Void in
                    #expect(throws: ChunkAuthenticationFailed.self) { try EncryptedLayout.open(raw, index: 3, with: cipher) }
                }
            }
        }
    }
}
