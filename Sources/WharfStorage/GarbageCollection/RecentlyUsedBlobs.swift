import Foundation
import Synchronization
import WharfCore

/// When each blob was last seen by a client (HEAD, GET, mount): a push that checked a blob exists is about to
/// reference it, so garbage collection leaves blobs used within its grace period alone.
final class RecentlyUsedBlobs: Sendable {
    private let lastUse = Mutex<[Digest: Double]>([:])

    func touch(_ digest: Digest) {
        let now = Date().timeIntervalSince1970
        lastUse.withLock { $0[digest] = now }
    }

    /// Digests used at or after `cutoff`; forgets older uses, which no longer matter.
    func used(since cutoff: Double) -> Set<Digest> {
        lastUse.withLock { uses in
            uses = uses.filter { $0.value >= cutoff }
            return Set(uses.keys)
        }
    }
}
