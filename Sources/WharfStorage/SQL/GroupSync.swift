import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Group commit for an SQLite database in WAL mode: one `fdatasync` of the WAL makes every transaction committed
/// before it started durable, however many there were.
///
/// SQLite at `synchronous = FULL` syncs the WAL inside every commit, so N concurrent writes cost N device flushes one
/// after the other. Here commits run at `synchronous = NORMAL` (written to the WAL, not synced; SQLite still syncs
/// before each checkpoint, so the database cannot be corrupted), and a durable write then waits for a sync that began
/// after its commit. Syncs run one at a time on their own queue; the writes that commit while one runs share the next.
final class GroupSync: Sendable {
    private struct State {
        /// Tickets handed out: a sync that read `issued` covers every commit that took a ticket up to it.
        var issued: UInt64 = 0
        var waiters: [(ticket: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
        var syncing = false
    }

    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "wharf.sqlite.group-sync")
    /// Syncs made so far by `sync()` (for tests and benchmarks: fewer than the writes that waited for them).
    let rounds = Atomic<Int>(0)
    /// The WAL file, opened for each sync: SQLite may recreate it (after the last connection closed).
    let path: String

    init(walPath: String) { path = walPath }

    /// Returns once everything this process committed before the call is on disk.
    func sync() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let start = state.withLock { state in
                state.issued += 1
                state.waiters.append((state.issued, continuation))
                defer { state.syncing = true }
                return !state.syncing
            }
            if start { queue.async { self.syncRounds() } }
        }
    }

    /// The same, blocking the calling thread (for the synchronous `writeNow`).
    func syncNow() throws { try Self.fdatasync(path) }

    private func syncRounds() {
        while true {
            let covered = state.withLock { $0.issued }
            let outcome = Result { try Self.fdatasync(path) }
            rounds.add(1, ordering: .relaxed)
            let (ready, more) = state.withLock { state in
                let ready = state.waiters.filter { $0.ticket <= covered }
                state.waiters.removeAll { $0.ticket <= covered }
                state.syncing = !state.waiters.isEmpty
                return (ready, state.syncing)
            }
            for waiter in ready { waiter.continuation.resume(with: outcome) }
            if !more { return }
        }
    }

    private static func fdatasync(_ path: String) throws {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        // No WAL: nothing was committed through it since SQLite last checkpointed it away (and synced the database).
        guard fd >= 0 else {
            if errno == ENOENT { return }
            throw posixError("open", path)
        }
        defer { close(fd) }
        guard Glibc.fdatasync(fd) == 0 else { throw posixError("fdatasync", path) }
    }
}
