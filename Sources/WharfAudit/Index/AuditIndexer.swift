import Dispatch
import Logging
import Synchronization

/// Indexes written records off the writer thread, in few large transactions: rows wait up to `window` for others to
/// join them, and the next batch's write and fsync never wait for an index transaction. Each transaction costs WAL
/// writes and checkpoints whatever its size; one per written batch cost a durable write more than its own fsync.
/// A query does not see the lag: it flushes first (`whenIndexed`), which indexes what waits at once.
///
/// A failed insert is logged and skipped: the records are durable in the segments, and the index catches up from
/// them when the log is next opened.
final class AuditIndexer: Sendable {
    private struct State {
        var rows: [AuditIndex.Row] = []
        var head: (seq: UInt64, hash: String)?
        /// To run once everything submitted before them is indexed.
        var waiting: [@Sendable () -> Void] = []
        var scheduled = false
    }

    private let index: AuditIndex
    private let window: DispatchTimeInterval
    private let logger: Logger
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "wharf-audit-index")

    init(index: AuditIndex, window: DispatchTimeInterval = .milliseconds(50), logger: Logger) {
        self.index = index
        self.window = window
        self.logger = logger
    }

    /// Queues `rows` for the index; `head` names the log's newest record after them.
    func submit(_ rows: [AuditIndex.Row], head: (seq: UInt64, hash: String)) {
        let schedule = state.withLock { state in
            state.rows += rows
            state.head = head
            defer { state.scheduled = true }
            return !state.scheduled
        }
        if schedule { queue.asyncAfter(deadline: .now() + window) { self.drain() } }
    }

    /// Runs `body` once every row submitted before the call is in the index (or failed to go in).
    func whenIndexed(_ body: @escaping @Sendable () -> Void) {
        state.withLock { $0.waiting.append(body) }
        // The queue is serial: this runs after an insert under way, and takes every row that came before the call.
        queue.async { self.drain() }
    }

    private func drain() {
        let (rows, head, waiting) = state.withLock { state in
            defer { (state.rows, state.head, state.waiting, state.scheduled) = ([], nil, [], false) }
            return (state.rows, state.head, state.waiting)
        }
        if let head, !rows.isEmpty {
            do {
                try index.insert(rows, head: head)
            } catch {
                logger.error("cannot index audit records", metadata: ["error": "\(error)"])
            }
        }
        for body in waiting { body() }
    }
}
