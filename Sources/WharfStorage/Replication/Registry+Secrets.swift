import Crypto
import Foundation
import WharfCore

/// Small secrets the store keeps for itself (a replication remote's password), sealed under the active master key:
/// `<key id>:<base64 of nonce ‖ ciphertext ‖ tag>`, with AES-256-GCM under a key derived from the master key for this
/// use only. A rotation re-seals them, and a key that still seals one is not retired.
extension Registry {
    package func sealSecret(_ secret: String) throws -> String {
        guard let encryption = blobs.encryption else {
            throw RegistryError(
                .unsupported, status: 400,
                "storing a password needs at-rest encryption; give the rule a passwordEnv (a variable of the server) instead")
        }
        let master = encryption.active
        let sealed = try AES.GCM.seal(Array(secret.utf8), using: Self.secretKey(master))
        return master.id + ":" + sealed.combined!.base64EncodedString()
    }

    package func openSecret(_ sealed: String) throws -> String {
        let parts = sealed.split(separator: ":", maxSplits: 1)
        guard parts.count == 2, let bytes = Data(base64Encoded: String(parts[1])),
            let master = blobs.encryption?.key(String(parts[0]))
        else { throw RegistryError.internalError("a stored secret's master key \(parts.first ?? "") is not held") }
        let box = try AES.GCM.SealedBox(combined: bytes)
        return String(decoding: try AES.GCM.open(box, using: Self.secretKey(master)), as: UTF8.self)
    }

    /// The master key a sealed secret names.
    static func sealingKeyID(_ sealed: String) -> String { String(sealed.prefix { $0 != ":" }) }

    private static func secretKey(_ master: MasterKey) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: master.key, info: Array("wharf stored secret".utf8), outputByteCount: 32)
    }

    /// Seals every stored secret anew under the active key (after a rotation).
    func resealSecrets() async throws -> Int {
        var count = 0
        for rule in try await metadata.storedReplicationRules() {
            guard let secret = rule.secret, Self.sealingKeyID(secret) != blobs.encryption?.active.id else { continue }
            try await metadata.saveReplicationRule(
                name: rule.name, definition: rule.definition, secret: try sealSecret(try openSecret(secret)))
            count += 1
        }
        return count
    }
}
