import Foundation
import WharfCore

/// Master keys from environment variables: `WHARF_ENCRYPTION_KEY` (base64 of 32 bytes) is the active key,
/// `WHARF_ENCRYPTION_PREVIOUS_KEYS` (comma-separated) are older keys that may still wrap data keys.
///
/// Rotating means restarting with a new active key and the old one among the previous keys, then
/// `wharf keys rotate`; a process cannot add keys to its own environment.
package struct EnvironmentKeys: MasterKeyProvider {
    package static let activeVariable = "WHARF_ENCRYPTION_KEY"
    package static let previousVariable = "WHARF_ENCRYPTION_PREVIOUS_KEYS"
    let active: String
    let previous: String?

    package init?(_ environment: [String: String]) {
        guard let active = environment[Self.activeVariable] else { return nil }
        self.active = active
        previous = environment[Self.previousVariable]
    }

    package var description: String { "environment variable \(Self.activeVariable)" }

    package func load() throws -> MasterKeys? {
        let others = try (previous ?? "").split(separator: ",").map { text throws in
            try Self.decode(String(text), Self.previousVariable)
        }
        return MasterKeys(active: try Self.decode(active, Self.activeVariable), others: others)
    }

    package func addActiveKey() throws -> MasterKey {
        throw RegistryError(
            .unsupported, status: 409,
            "keys from the environment rotate by restarting with a new \(Self.activeVariable) and the old key in "
                + "\(Self.previousVariable); then run wharf keys rotate --keep-key")
    }

    /// Nothing to delete: once the store no longer records the key, the next start without it in
    /// `WHARF_ENCRYPTION_PREVIOUS_KEYS` is accepted.
    package func retire(_ id: String) throws {}

    private static func decode(_ text: String, _ variable: String) throws -> MasterKey {
        guard let bytes = Data(base64Encoded: text.trimmingCharacters(in: .whitespaces)) else {
            throw KeyError("\(variable) is not base64")
        }
        return try MasterKey(bytes: Array(bytes))
    }
}
