import CCryptoBoringSSL
import Crypto

/// AES-256-GCM under one data key, sealing into and opening from the caller's buffers.
///
/// It calls the AEAD functions of BoringSSL (the copy swift-crypto builds) directly: `AES.GCM` returns each chunk in
/// a new `Data` that then has to be copied into the response, and sets the key up again for every chunk. Working in
/// the caller's buffers with one context per blob decrypts at several GB/s per core here, which decides whether
/// encrypted pulls keep up (docs/benchmarks.md). The format is standard AES-256-GCM: `AES.GCM` opens what this
/// seals, and a test checks it.
final class ChunkCipher {
    private let context: UnsafeMutablePointer<EVP_AEAD_CTX>

    init(key: SymmetricKey) {
        context = key.withUnsafeBytes {
            CCryptoBoringSSL_EVP_AEAD_CTX_new(
                CCryptoBoringSSL_EVP_aead_aes_256_gcm(), $0.baseAddress, $0.count, EncryptedLayout.tagSize)
        }
    }

    deinit { CCryptoBoringSSL_EVP_AEAD_CTX_free(context) }

    /// Seals `plaintext` into `output` (plaintext.count + 28 bytes) as nonce ‖ ciphertext ‖ tag, under a new
    /// random nonce.
    func seal(_ plaintext: UnsafeRawBufferPointer, authenticating data: [UInt8], into output: UnsafeMutableRawBufferPointer)
        throws
    {
        let nonceSize = EncryptedLayout.nonceSize
        guard output.count == plaintext.count + EncryptedLayout.overhead else { throw CryptoError.invalidParameter }
        AES.GCM.Nonce().withUnsafeBytes { output.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: nonceSize) }
        var written = 0
        let sealed = data.withUnsafeBytes { associated in
            CCryptoBoringSSL_EVP_AEAD_CTX_seal(
                context, output.baseAddress! + nonceSize, &written, output.count - nonceSize, output.baseAddress,
                nonceSize, plaintext.baseAddress, plaintext.count, associated.baseAddress, associated.count)
        }
        guard sealed == 1, written == output.count - nonceSize else {
            CCryptoBoringSSL_ERR_clear_error()
            throw CryptoError.invalidParameter
        }
    }

    /// Opens nonce ‖ ciphertext ‖ tag into `output` (sealed.count − 28 bytes); throws when it does not authenticate.
    func open(_ sealed: UnsafeRawBufferPointer, authenticating data: [UInt8], into output: UnsafeMutableRawBufferPointer)
        throws(ChunkAuthenticationFailed)
    {
        let nonceSize = EncryptedLayout.nonceSize
        guard sealed.count >= EncryptedLayout.overhead, output.count == sealed.count - EncryptedLayout.overhead else {
            throw ChunkAuthenticationFailed()
        }
        var written = 0
        let opened = data.withUnsafeBytes { associated in
            CCryptoBoringSSL_EVP_AEAD_CTX_open(
                context, output.baseAddress, &written, output.count, sealed.baseAddress, nonceSize,
                sealed.baseAddress! + nonceSize, sealed.count - nonceSize, associated.baseAddress, associated.count)
        }
        guard opened == 1, written == output.count else {
            // A failed open leaves an entry on BoringSSL's per-thread error queue; the error thrown says it all.
            CCryptoBoringSSL_ERR_clear_error()
            throw ChunkAuthenticationFailed()
        }
    }
}
