import CSHA
import Foundation
import WharfCore

/// A SHA-256 or SHA-512 whose running state can be saved and resumed, so that an upload's hash survives between
/// requests that land on different instances. The state is OpenSSL's context struct, saved as its bytes: it holds the
/// chaining value and the unprocessed bytes of the last block, nothing of the key or of earlier input beyond that.
/// Every instance of a cluster runs the same build, so the layout is the same one that saved it.
struct ResumableHasher: Sendable {
    private enum State: Sendable {
        case sha256(SHA256_CTX)
        case sha512(SHA512_CTX)
    }
    private var state: State

    var algorithm: Digest.Algorithm {
        switch state {
        case .sha256: .sha256
        case .sha512: .sha512
        }
    }

    init(_ algorithm: Digest.Algorithm) {
        switch algorithm {
        case .sha256:
            var context = SHA256_CTX()
            SHA256_Init(&context)
            state = .sha256(context)
        case .sha512:
            var context = SHA512_CTX()
            SHA512_Init(&context)
            state = .sha512(context)
        }
    }

    /// Resumes a state saved by `saved`; nil when the bytes are not one.
    init?(saved: Data) {
        guard let tag = saved.first else { return nil }
        let body = saved.dropFirst()
        switch tag {
        case 1 where body.count == MemoryLayout<SHA256_CTX>.size:
            state = .sha256(Self.load(body))
        case 2 where body.count == MemoryLayout<SHA512_CTX>.size:
            state = .sha512(Self.load(body))
        default:
            return nil
        }
    }

    var saved: Data {
        switch state {
        case .sha256(var context): Data([1]) + Data(bytes: &context, count: MemoryLayout<SHA256_CTX>.size)
        case .sha512(var context): Data([2]) + Data(bytes: &context, count: MemoryLayout<SHA512_CTX>.size)
        }
    }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        switch state {
        case .sha256(var context):
            SHA256_Update(&context, base, bytes.count)
            state = .sha256(context)
        case .sha512(var context):
            SHA512_Update(&context, base, bytes.count)
            state = .sha512(context)
        }
    }

    func finalize() -> Digest {
        var output: [UInt8]
        switch state {
        case .sha256(var context):
            output = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
            SHA256_Final(&output, &context)
        case .sha512(var context):
            output = [UInt8](repeating: 0, count: Int(SHA512_DIGEST_LENGTH))
            SHA512_Final(&output, &context)
        }
        // The hex of a real hash always parses.
        return try! Digest("\(algorithm.rawValue):\(output.hexString)")
    }

    private static func load<Context>(_ bytes: Data) -> Context {
        bytes.withUnsafeBytes { $0.loadUnaligned(as: Context.self) }
    }
}
