import Crypto

/// A content digest such as `sha256:9f86d0…`, validated at the parse.
///
/// Follows the OCI image-spec grammar; `sha256` and `sha512` are the algorithms the registry can verify,
/// any other well-formed algorithm is reported as unsupported.
public struct Digest: Hashable, Sendable, CustomStringConvertible, Comparable {
    public enum Algorithm: String, Sendable, CaseIterable {
        case sha256, sha512

        /// Length of the lowercase hex encoding.
        public var hexLength: Int { self == .sha256 ? 64 : 128 }
    }

    public let algorithm: Algorithm
    public let hex: String

    public init(_ string: some StringProtocol) throws(RegistryError) {
        guard let colon = string.firstIndex(of: ":") else {
            throw .digestInvalid("invalid digest: missing algorithm", detail: String(string))
        }
        let name = string[..<colon]
        let encoded = string[string.index(after: colon)...]
        guard let algorithm = Algorithm(rawValue: String(name)) else {
            let wellFormed = !name.isEmpty && name.utf8.allSatisfy { $0.isLowerAlnum || "+._-".utf8.contains($0) }
            throw .digestInvalid(wellFormed ? "unsupported digest algorithm" : "invalid digest", detail: String(string))
        }
        guard encoded.utf8.count == algorithm.hexLength, encoded.utf8.allSatisfy(\.isLowerHex) else {
            throw .digestInvalid("invalid \(algorithm.rawValue) digest encoding", detail: String(string))
        }
        self.algorithm = algorithm
        self.hex = String(encoded)
    }

    init(algorithm: Algorithm, hex: String) {
        self.algorithm = algorithm
        self.hex = hex
    }

    public var description: String { "\(algorithm.rawValue):\(hex)" }

    public static func < (lhs: Digest, rhs: Digest) -> Bool { lhs.description < rhs.description }

    /// The digest of a byte sequence held in memory (manifests, tests; never whole blobs).
    public static func of(_ bytes: some Sequence<UInt8>, algorithm: Algorithm = .sha256) -> Digest {
        var hasher = DigestHasher(algorithm)
        hasher.update(Array(bytes))
        return hasher.finalize()
    }
}

/// Incremental hashing for the algorithms in `Digest.Algorithm`.
public struct DigestHasher: Sendable {
    private enum State: Sendable {
        case sha256(SHA256)
        case sha512(SHA512)
    }
    private var state: State
    public var algorithm: Digest.Algorithm {
        switch state {
        case .sha256: .sha256
        case .sha512: .sha512
        }
    }

    public init(_ algorithm: Digest.Algorithm) {
        switch algorithm {
        case .sha256: state = .sha256(SHA256())
        case .sha512: state = .sha512(SHA512())
        }
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .sha256(var h):
            h.update(bufferPointer: bytes)
            state = .sha256(h)
        case .sha512(var h):
            h.update(bufferPointer: bytes)
            state = .sha512(h)
        }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public func finalize() -> Digest {
        let bytes: [UInt8] =
            switch state {
            case .sha256(let h): Array(h.finalize())
            case .sha512(let h): Array(h.finalize())
            }
        return Digest(algorithm: algorithm, hex: bytes.hexString)
    }
}

extension Collection<UInt8> {
    /// Lower-case hex, two digits a byte, written straight into the string (the audit log hashes every record).
    /// Inlinable, so that each caller gets a copy made for its collection: called across modules as a generic, it
    /// walked the bytes through witness tables and cost the audit log several microseconds per request.
    @inlinable package var hexString: String {
        String(unsafeUninitializedCapacity: count * 2) { text in
            func digit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 0x30 + nibble : 0x57 + nibble }
            for (index, byte) in enumerated() {
                text[2 * index] = digit(byte >> 4)
                text[2 * index + 1] = digit(byte & 0x0f)
            }
            return count * 2
        }
    }
}

extension UInt8 {
    var isLowerHex: Bool { (0x30...0x39).contains(self) || (0x61...0x66).contains(self) }
    var isLowerAlnum: Bool { (0x30...0x39).contains(self) || (0x61...0x7a).contains(self) }
    var isAlnum: Bool { isLowerAlnum || (0x41...0x5a).contains(self) }
}
