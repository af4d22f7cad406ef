import Crypto
import CryptoExtras
import Foundation
import WharfCore
import WharfStorage

/// Token signing keys as PEM files in one directory: `<kid>.pem` (mode 0600), and `active` naming the key that
/// signs new tokens. Every key in the directory verifies, so rotating is: add a key and make it active, wait
/// for the old tokens to expire (the token lifetime), then retire the old key. A cluster keeps them in its
/// database instead (`SigningKeyTable`).
public struct SigningKeys: SigningKeyStore {
    public enum Algorithm: String, Sendable, CaseIterable {
        case es256 = "ES256"
        case rs256 = "RS256"
    }

    public struct Key: Sendable {
        public let id: String
        public let algorithm: Algorithm
        public let pem: String
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public let path: String

    public init(path: String) { self.path = path }

    public var location: String { path }

    public func load() throws -> (keys: [Key], active: String)? {
        let files = FileSystem.list(path).filter { $0.hasSuffix(".pem") }.sorted()
        guard !files.isEmpty else { return nil }
        let keys = try files.map { file in
            let pem = try String(contentsOfFile: "\(path)/\(file)", encoding: .utf8)
            let (id, algorithm) = try Self.identify(pem, file: "\(path)/\(file)")
            guard file == "\(id).pem" else { throw Failure(description: "\(path)/\(file) holds key \(id); name it \(id).pem") }
            return Key(id: id, algorithm: algorithm, pem: pem)
        }
        guard
            let active = try? String(contentsOfFile: "\(path)/active", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines),
            keys.contains(where: { $0.id == active })
        else { throw Failure(description: "\(path)/active does not name one of the keys in \(path)") }
        return (keys, active)
    }

    /// One server owns its directory, so there is no one to race with.
    public func ensureKey(_ algorithm: Algorithm) throws -> String? {
        try load() == nil ? try addActiveKey(algorithm) : nil
    }

    @discardableResult
    public func addActiveKey(_ algorithm: Algorithm) throws -> String {
        let (id, pem) = try Self.generate(algorithm)
        try FileSystem.makeDirectory(path, mode: 0o700)
        try writeDurably(Array(pem.utf8), to: "\(path)/\(id).pem", mode: 0o600)
        try KeyringDirectory.activate(id, in: path)
        return id
    }

    public func retire(_ id: String) throws {
        guard let (keys, active) = try load(), keys.contains(where: { $0.id == id }) else {
            throw Failure(description: "no signing key \(id) in \(path)")
        }
        guard id != active else { throw Failure(description: "key \(id) is the active key; add a new one first") }
        FileSystem.remove("\(path)/\(id).pem")
        try FileSystem.syncDirectory(path)
    }

    /// A new private key in PEM, and its id.
    static func generate(_ algorithm: Algorithm) throws -> (id: String, pem: String) {
        let pem =
            switch algorithm {
            case .es256: P256.Signing.PrivateKey().pemRepresentation
            case .rs256: try _RSA.Signing.PrivateKey(keySize: .bits2048).pemRepresentation
            }
        return (try identify(pem, file: "new key").0, pem)
    }

    /// The key id is derived from the public key (the first 16 hex digits of its SHA-256), so it names the key.
    static func identify(_ pem: String, file: String) throws -> (String, Algorithm) {
        let publicDER: Data
        let algorithm: Algorithm
        if let key = try? P256.Signing.PrivateKey(pemRepresentation: pem) {
            publicDER = key.publicKey.derRepresentation
            algorithm = .es256
        } else if let key = try? _RSA.Signing.PrivateKey(pemRepresentation: pem) {
            publicDER = key.publicKey.derRepresentation
            algorithm = .rs256
        } else {
            throw Failure(description: "\(file) is not a P-256 or RSA private key in PEM")
        }
        let id = Array(SHA256.hash(data: publicDER).prefix(8)).hexString
        return (id, algorithm)
    }
}
