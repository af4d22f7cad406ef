import Crypto
import NIOCore
import Testing

@testable import WharfStorage

/// The two AES-256-GCM implementations (the system's libcrypto, swift-crypto) open what the other sealed, and
/// neither opens a chunk that was altered or sealed for another index.
@Suite struct ChunkCipherTests {
    @Test func libcryptoAndSwiftCryptoAgree() throws {
        let libcrypto = try #require(Libcrypto.shared, "the system's libcrypto.so.3 should load here")
        let key = SymmetricKey(size: .bits256)
        let ciphers = [ChunkCipher(key: key, libcrypto: libcrypto), ChunkCipher(key: key, libcrypto: nil)]
        for size in [0, 1, 4095, EncryptedLayout.chunkSize] {
            let plaintext = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 7) }
            for sealer in ciphers {
                var sealed = ByteBuffer()
                try plaintext.withUnsafeBytes { try EncryptedLayout.seal($0, index: 3, with: sealer, into: &sealed) }
                #expect(sealed.readableBytes == size + EncryptedLayout.overhead)
                for opener in ciphers {
                    try sealed.withUnsafeReadableBytes { (raw) throws -> Void in
                        #expect(try EncryptedLayout.open(raw, index: 3, with: opener) == plaintext)
                        #expect(throws: ChunkAuthenticationFailed.self) { try EncryptedLayout.open(raw, index: 4, with: opener) }
                    }
                    var altered = Array(sealed.readableBytesView)
                    altered[altered.count / 2] ^= 0x20
                    try altered.withUnsafeBytes { (raw) throws -> Void in
                        #expect(throws: ChunkAuthenticationFailed.self) { try EncryptedLayout.open(raw, index: 3, with: opener) }
                    }
                }
            }
        }
    }
}
