import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// AES-256-GCM under one data key, sealing into and opening from the caller's buffers.
///
/// Sealing uses the system's OpenSSL libcrypto when the process can load it: it works in place, and its AES-GCM
/// encryption is more than twice as fast here as swift-crypto's (2.5 against 1.1 GB/s per core, see
/// docs/benchmarks.md), which decides whether encrypted pushes keep up. Opening uses swift-crypto, whose
/// decryption is the faster one (4.2 against 3.4 GB/s). Both are standard AES-256-GCM: either opens what the
/// other sealed.
final class ChunkCipher {
    private let key: SymmetricKey
    private let libcrypto: Libcrypto?
    /// libcrypto's cipher context with the key set, made on the first seal: a cipher that only opens needs none.
    private var context: OpaquePointer?

    /// `libcrypto` nil: swift-crypto only (tests use it to check that the two agree).
    init(key: SymmetricKey, libcrypto: Libcrypto? = .shared) {
        self.key = key
        self.libcrypto = libcrypto
    }

    deinit { if let context { libcrypto?.freeContext(context) } }

    /// Seals `plaintext` into `output` (plaintext.count + 28 bytes) as nonce ‖ ciphertext ‖ tag.
    func seal(_ plaintext: UnsafeRawBufferPointer, authenticating data: [UInt8], into output: UnsafeMutableRawBufferPointer)
        throws
    {
        let nonceSize = EncryptedLayout.nonceSize
        let nonce = AES.GCM.Nonce()
        nonce.withUnsafeBytes { output.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: nonceSize) }
        guard let libcrypto else {
            let box = try AES.GCM.seal(plaintext, using: key, nonce: nonce, authenticating: data)
            output.copyBytes(from: box.combined!)
            return
        }
        if context == nil {
            context = libcrypto.newContext()
            key.withUnsafeBytes { _ = libcrypto.encryptInit(context, libcrypto.aes256GCM(), nil, $0.baseAddress, nil) }
        }
        let body = output.baseAddress! + nonceSize
        var length: Int32 = 0
        let ok =
            libcrypto.encryptInit(context, nil, nil, nil, output.baseAddress) == 1
            && data.withUnsafeBytes { libcrypto.encryptUpdate(context, nil, &length, $0.baseAddress, Int32($0.count)) } == 1
            && libcrypto.encryptUpdate(context, body, &length, plaintext.baseAddress, Int32(plaintext.count)) == 1
            && libcrypto.encryptFinal(context, body + plaintext.count, &length) == 1
            && libcrypto.control(context, Libcrypto.getTag, Int32(EncryptedLayout.tagSize), body + plaintext.count) == 1
        guard ok else { throw CryptoError.invalidParameter }
    }

    /// Opens nonce ‖ ciphertext ‖ tag into `output` (sealed.count − 28 bytes); throws when it does not authenticate.
    /// Always swift-crypto: its AES-GCM decryption (BoringSSL) is faster here than libcrypto's, copies included.
    func open(_ sealed: UnsafeRawBufferPointer, authenticating data: [UInt8], into output: UnsafeMutableRawBufferPointer)
        throws(ChunkAuthenticationFailed)
    {
        guard sealed.count >= EncryptedLayout.overhead, output.count == sealed.count - EncryptedLayout.overhead else {
            throw ChunkAuthenticationFailed()
        }
        do {
            let plain = try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: key, authenticating: data)
            output.copyBytes(from: plain)
        } catch {
            throw ChunkAuthenticationFailed()
        }
    }
}

/// The few EVP functions of the system's libcrypto (OpenSSL 3) that AES-GCM sealing needs, found at run time so that
/// building needs no OpenSSL headers. `WHARF_LIBCRYPTO=off` makes the process use swift-crypto instead.
struct Libcrypto: Sendable {
    typealias Context = OpaquePointer
    typealias Init = @convention(c) (Context?, OpaquePointer?, OpaquePointer?, UnsafeRawPointer?, UnsafeRawPointer?) -> Int32
    typealias Update =
        @convention(c) (Context?, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int32>?, UnsafeRawPointer?, Int32) -> Int32
    typealias Final = @convention(c) (Context?, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int32>?) -> Int32
    typealias Control = @convention(c) (Context?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32

    static let getTag: Int32 = 0x10  // EVP_CTRL_GCM_GET_TAG

    let newContext: @convention(c) () -> Context
    let freeContext: @convention(c) (Context?) -> Void
    let aes256GCM: @convention(c) () -> OpaquePointer?
    let encryptInit: Init
    let encryptUpdate: Update
    let encryptFinal: Final
    let control: Control

    static let shared: Libcrypto? = {
        guard ProcessInfo.processInfo.environment["WHARF_LIBCRYPTO"] != "off",
            let library = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL)
        else { return nil }
        func symbol<T>(_ name: String, _: T.Type) -> T? {
            dlsym(library, name).map { unsafeBitCast($0, to: T.self) }
        }
        guard let newContext = symbol("EVP_CIPHER_CTX_new", (@convention(c) () -> Context).self),
            let freeContext = symbol("EVP_CIPHER_CTX_free", (@convention(c) (Context?) -> Void).self),
            let aes256GCM = symbol("EVP_aes_256_gcm", (@convention(c) () -> OpaquePointer?).self),
            let encryptInit = symbol("EVP_EncryptInit_ex", Init.self),
            let encryptUpdate = symbol("EVP_EncryptUpdate", Update.self),
            let encryptFinal = symbol("EVP_EncryptFinal_ex", Final.self),
            let control = symbol("EVP_CIPHER_CTX_ctrl", Control.self)
        else { return nil }
        return Libcrypto(
            newContext: newContext, freeContext: freeContext, aes256GCM: aes256GCM, encryptInit: encryptInit,
            encryptUpdate: encryptUpdate, encryptFinal: encryptFinal, control: control)
    }()
}
