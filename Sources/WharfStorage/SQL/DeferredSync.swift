import Synchronization

/// Lets a request wait once for its metadata and its audit record to be on disk, instead of one after the other.
///
/// A write with the audit on is answered after two syncs: its transaction's (the WAL) and its audit record's. Done in
/// turn, each write paid for two device flushes back to back. Inside `DeferredSync.$current`, a durable SQLite write
/// commits and leaves its sync here; the caller waits for it (`wait()`) while the audit record is written, and only
/// then answers. Bound only around handlers that do nothing after a commit that depends on it being on disk
/// (manifest and tag writes: their content was synced before the commit).
package final class DeferredSync: Sendable {
    @TaskLocal package static var current: DeferredSync?

    /// One per database written in the scope.
    private let pending = Mutex<[GroupSync]>([])

    package init() {}

    func leave(_ sync: GroupSync) {
        pending.withLock { pending in
            if !pending.contains(where: { $0 === sync }) { pending.append(sync) }
        }
    }

    /// Returns once every durable write made in the scope is on disk.
    package func wait() async throws {
        for sync in pending.withLock({ $0 }) { try await sync.sync() }
    }
}
