import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// AES-256-GCM under one data key, sealing into and opening from the caller's buffers.
///
/// It uses the system's OpenSSL libcrypto when the process can load it: it works in place, and its AES-GCM
/// encryption is several times faster here than swift-crypto's (2.7 against 1.0 GB/s per core, see
/// docs/benchmarks.md), which decides whether encrypted pushes keep up. Without libcrypto it falls back to
/// swift-crypto. Both produce standard AES-256-GCM, so either opens what the other sealed.
final class ChunkCipher {
    private let key: SymmetricKey
    private let libcrypto: Libcrypto?
    private let context: OpaquePointer?

    /// `libcrypto` nil: swift-crypto only (tests use it to check that the two agree).
    init(key: SymmetricKey, libcrypto: Libcrypto? = .shared) {
        self.key = key
        self.libcrypto = libcrypto
        context = libcrypto.map { libcrypto in
            let context = libcrypto.newContext()
            key.withUnsafeBytes { raw in
                _ = libcrypto.encryptInit(context, libcrypto.aes256GCM(), nil, raw.baseAddress, nil)
            }
            return context
        }
    }

    deinit { if let context { libcrypto?.freeContext(context) } }

    /// Seals `plaintext` into `output` (plaintext.count + 28 bytes) as nonce ‖ ciphertext ‖ tag.
    func seal(_ plaintext: UnsafeRawBufferPointer, authenticating data: [UInt8], into output: UnsafeMutableRawBufferPointer)
        throws
    {
        let nonceSize = EncryptedLayout.nonceSize
        let nonce = AES.GCM.Nonce()
        nonce.withUnsafeBytes { output.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: nonceSize) }
        guard let context, let libcrypto else {
            let box = try AES.GCM.seal(plaintext, using: key, nonce: nonce, authenticating: data)
            output.copyBytes(from: box.combined!)
            return
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
    func open(_ sealed: UnsafeRawBufferPointer, authenticating data: [UInt8], into output: UnsafeMutableRawBufferPointer)
        throws(ChunkAuthenticationFailed)
    {
        let overhead = EncryptedLayout.overhead
        guard sealed.count >= overhead, output.count == sealed.count - overhead else { throw ChunkAuthenticationFailed() }
        guard let context, let libcrypto else {
            do {
                let plain = try AES.GCM.open(AES.GCM.SealedBox(combined: sealed), using: key, authenticating: data)
                output.copyBytes(from: plain)
                return
            } catch {
                throw ChunkAuthenticationFailed()
            }
        }
        let ciphertext = sealed.baseAddress! + EncryptedLayout.nonceSize
        let tag = UnsafeMutableRawPointer(mutating: ciphertext + output.count)
        var length: Int32 = 0
        let ok =
            libcrypto.decryptInit(context, nil, nil, nil, sealed.baseAddress) == 1
            && data.withUnsafeBytes { libcrypto.decryptUpdate(context, nil, &length, $0.baseAddress, Int32($0.count)) } == 1
            && libcrypto.decryptUpdate(context, output.baseAddress, &length, ciphertext, Int32(output.count)) == 1
            && libcrypto.control(context, Libcrypto.setTag, Int32(EncryptedLayout.tagSize), tag) == 1
            && libcrypto.decryptFinal(context, output.baseAddress! + output.count, &length) == 1
        guard ok else { throw ChunkAuthenticationFailed() }
    }
}

/// The few EVP functions of the system's libcrypto (OpenSSL 3) that AES-GCM needs, found at run time so that
/// building needs no OpenSSL headers. `WHARF_LIBCRYPTO=off` makes the process use swift-crypto instead.
struct Libcrypto: Sendable {
    typealias Context = OpaquePointer
    typealias Init = @convention(c) (Context?, OpaquePointer?, OpaquePointer?, UnsafeRawPointer?, UnsafeRawPointer?) -> Int32
    typealias Update =
        @convention(c) (Context?, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int32>?, UnsafeRawPointer?, Int32) -> Int32
    typealias Final = @convention(c) (Context?, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int32>?) -> Int32
    typealias Control = @convention(c) (Context?, Int32, Int32, UnsafeMutableRawPointer?) -> Int32

    static let getTag: Int32 = 0x10  // EVP_CTRL_GCM_GET_TAG
    static let setTag: Int32 = 0x11  // EVP_CTRL_GCM_SET_TAG

    let newContext: @convention(c) () -> Context
    let freeContext: @convention(c) (Context?) -> Void
    let aes256GCM: @convention(c) () -> OpaquePointer?
    let encryptInit: Init
    let encryptUpdate: Update
    let encryptFinal: Final
    let decryptInit: Init
    let decryptUpdate: Update
    let decryptFinal: Final
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
            let decryptInit = symbol("EVP_DecryptInit_ex", Init.self),
            let decryptUpdate = symbol("EVP_DecryptUpdate", Update.self),
            let decryptFinal = symbol("EVP_DecryptFinal_ex", Final.self),
            let control = symbol("EVP_CIPHER_CTX_ctrl", Control.self)
        else { return nil }
        return Libcrypto(
            newContext: newContext, freeContext: freeContext, aes256GCM: aes256GCM, encryptInit: encryptInit,
            encryptUpdate: encryptUpdate, encryptFinal: encryptFinal, decryptInit: decryptInit,
            decryptUpdate: decryptUpdate, decryptFinal: decryptFinal, control: control)
    }()
}
