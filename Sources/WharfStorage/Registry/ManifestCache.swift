import Synchronization
import WharfCore

/// Manifest bodies by digest, bounded in bytes. Content-addressed bytes never change, so an entry is never
/// stale; whether a repository may see it is decided by the metadata store on every request.
final class ManifestCache: Sendable {
    private struct Storage {
        var entries: [Digest: [UInt8]] = [:]
        var order: [Digest] = []  // insertion order, for FIFO eviction
        var bytes = 0
    }
    private let storage = Mutex(Storage())
    let capacityBytes: Int

    init(capacityBytes: Int) { self.capacityBytes = capacityBytes }

    subscript(digest: Digest) -> [UInt8]? {
        storage.withLock { $0.entries[digest] }
    }

    func insert(_ bytes: [UInt8], for digest: Digest) {
        guard bytes.count <= capacityBytes / 16 else { return }
        storage.withLock { storage in
            guard storage.entries[digest] == nil else { return }
            while storage.bytes + bytes.count > capacityBytes, !storage.order.isEmpty {
                let evicted = storage.order.removeFirst()
                storage.bytes -= storage.entries.removeValue(forKey: evicted)?.count ?? 0
            }
            storage.entries[digest] = bytes
            storage.order.append(digest)
            storage.bytes += bytes.count
        }
    }
}
