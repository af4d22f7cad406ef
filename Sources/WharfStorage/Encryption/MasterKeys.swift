import Crypto
import Foundation
import WharfCore

/// A key-encryption key: it wraps the data keys of blobs and never touches content itself.
package struct MasterKey: Sendable {
    /// Derived from the key bytes, so the same key has the same id wherever it comes from; it reveals nothing
    /// about the key.
    package let id: String
    let key: SymmetricKey

    package init(bytes: [UInt8]) throws {
        guard bytes.count == 32 else {
            throw KeyError("a master key must be 32 bytes, this one has \(bytes.count)")
        }
        key = SymmetricKey(data: bytes)
        let digest = SHA256.hash(data: Array("wharf master key id".utf8) + bytes)
        id = Array(digest.prefix(8)).hexString
    }

    /// 32 bytes from the system's secure random generator.
    package static func generate() -> MasterKey {
        try! MasterKey(bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
    }
}

/// The master keys a provider holds: the active one wraps new data keys; all of them can unwrap.
package struct MasterKeys: Sendable {
    package let active: MasterKey
    package let all: [String: MasterKey]

    package init(active: MasterKey, others: [MasterKey] = []) {
        self.active = active
        all = Dictionary((others + [active]).map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
    }
}

/// A master key that is missing, wrong or unreadable: the registry refuses to start and says why.
package struct KeyError: Error, CustomStringConvertible {
    package let description: String

    init(_ description: String) { self.description = description }
}

/// Where master keys come from. A key file directory and environment variables exist; a KMS is one more
/// conformance.
package protocol MasterKeyProvider: Sendable {
    /// Says where the keys are, for messages.
    var description: String { get }
    /// The current keys; nil when the provider holds none yet.
    func load() throws -> MasterKeys?
    /// Brings in a new key and makes it the active one.
    func addActiveKey() throws -> MasterKey
    /// Forgets a key that no longer wraps anything.
    func retire(_ id: String) throws
}
