import Crypto
import Foundation
import Logging
import Synchronization
import WharfCore

/// The master keys in use, from one provider; reloaded when a rotation brings in a new key.
package final class BlobEncryption: Sendable {
    package let provider: any MasterKeyProvider
    private let keys: Mutex<MasterKeys>

    /// Loads the provider's keys and checks them against `recorded`, the master keys the store's data keys are
    /// wrapped with. A provider holding no key gets a new one only with `createFirstKey` and an unencrypted store.
    package init(provider: any MasterKeyProvider, createFirstKey: Bool, recorded: [String], logger: Logger) throws {
        self.provider = provider
        if let keys = try provider.load() {
            let missing = recorded.filter { keys.all[$0] == nil }
            guard missing.isEmpty else {
                throw KeyError(
                    "the store's blobs are encrypted with master key \(missing.joined(separator: ", ")), which "
                        + "\(provider.description) does not hold: wrong or missing key; refusing to start")
            }
            self.keys = Mutex(keys)
        } else {
            guard recorded.isEmpty else {
                throw KeyError(
                    "no master key in \(provider.description), but the store's blobs are encrypted with "
                        + "\(recorded.joined(separator: ", ")); refusing to start")
            }
            guard createFirstKey else {
                throw KeyError(
                    "no master key in \(provider.description); create one with wharf keys generate")
            }
            let key = try provider.addActiveKey()
            logger.notice(
                "created a master key for at-rest encryption; in production keep it apart from the data (see README)",
                metadata: ["key": "\(key.id)", "where": "\(provider.description)"])
            self.keys = Mutex(MasterKeys(active: key))
        }
    }

    package var active: MasterKey { keys.withLock { $0.active } }
    package var keyIDs: [String] { keys.withLock { $0.all.keys.sorted() } }

    func key(_ id: String) -> MasterKey? { keys.withLock { $0.all[id] } }

    package func reload() throws {
        guard let loaded = try provider.load() else {
            throw KeyError("no master key in \(provider.description)")
        }
        keys.withLock { $0 = loaded }
    }

    package func addActiveKey() throws -> MasterKey {
        let key = try provider.addActiveKey()
        try reload()
        return key
    }

    /// A new random data key for one blob or upload.
    static func newDataKey() -> SymmetricKey { SymmetricKey(size: .bits256) }
}

/// What a data key is bound to, as authenticated data of its wrapping: an upload session until the upload
/// completes, then the blob's digest and size. A header copied onto another blob, or a truncated blob, does
/// not open.
enum KeyBinding: Equatable, CustomStringConvertible {
    case upload(String)
    case blob(WharfCore.Digest, size: Int64)

    var description: String {
        switch self {
        case .upload(let id): "upload \(id)"
        case .blob(let digest, let size): "blob \(digest) \(size)"
        }
    }
}
