import Crypto
import Foundation
import WharfCore
import WharfStorage

/// The registry's P2P signing key: it signs piece lists and piece tokens, and agents check both with its public key,
/// with no round trip to the origin. Kept in `<dataDir>/p2p/key.pem` (mode 0600), made on first use.
package struct P2PKey: Sendable {
    package let privateKey: P256.Signing.PrivateKey
    /// Names the key in what it signs (see `id(of:)`).
    package let id: String

    package var publicKeyPEM: String { privateKey.publicKey.pemRepresentation }

    package init(_ privateKey: P256.Signing.PrivateKey) {
        self.privateKey = privateKey
        id = Self.id(of: privateKey.publicKey)
    }

    /// The id of `key`: the first 16 hex digits of the SHA-256 of its DER form.
    package static func id(of key: P256.Signing.PublicKey) -> String {
        String(Array(SHA256.hash(data: key.derRepresentation)).hexString.prefix(16))
    }

    /// The key in `directory`, made there if there is none yet.
    package static func loadOrCreate(in directory: String) throws -> P2PKey {
        let path = "\(directory)/key.pem"
        if let pem = try? String(contentsOfFile: path, encoding: .utf8) {
            return P2PKey(try P256.Signing.PrivateKey(pemRepresentation: pem))
        }
        try FileSystem.makeDirectory(directory, mode: 0o700)
        let key = P256.Signing.PrivateKey()
        try writeDurably(Array(key.pemRepresentation.utf8), to: path, mode: 0o600)
        return P2PKey(key)
    }
}
