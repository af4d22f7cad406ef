import Dispatch
import Logging
import Synchronization

/// Indexes written records off the writer thread, so that the next batch's write and fsync need not wait for the
/// previous batch's index transaction. Rows that arrive while one insert runs go into the next one together: under
/// load the index takes few large transactions instead of one per batch.
///
/// A failed insert is logged and skipped: the records are durable in the segments, and the index catches up from
/// them when the log is next opened.
final class AuditIndexer: Sendable {
    private struct State {
        var rows: [AuditIndex.Row] = []
        var head: (seq: UInt64, hash: String)?
        /// To run once everything submitted before them is indexed.
        var waiting: [@Sendable () -> Void] = []
        var running = false
    }

    private let index: AuditIndex
    private let logger: Logger
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "wharf-audit-index")

    init(index: AuditIndex, logger: Logger) {
        self.index = index
        self.logger = logger
    }

    /// Queues `rows` for the index; `head` names the log's newest record after them.
    func submit(_ rows: [AuditIndex.Row], head: (seq: UInt64, hash: String)) {
        let start = state.withLock { state in
            state.rows += rows
            state.head = head
            return startIfIdle(&state)
        }
        if start { queue.async { self.drain() } }
    }

    /// Runs `body` once every row submitted before the call is in the index (or failed to go in).
    func whenIndexed(_ body: @escaping @Sendable () -> Void) {
        let start = state.withLock { state in
            state.waiting.append(body)
            return startIfIdle(&state)
        }
        if start { queue.async { self.drain() } }
    }

    private func startIfIdle(_ state: inout State) -> Bool {
        guard !state.running else { return false }
        state.running = true
        return true
    }

    private func drain() {
        while true {
            let (rows, head, waiting) = state.withLock { state in
                defer { (state.rows, state.head, state.waiting) = ([], nil, []) }
                if state.rows.isEmpty, state.waiting.isEmpty { state.running = false }
                return (state.rows, state.head, state.waiting)
            }
            guard !rows.isEmpty || !waiting.isEmpty else { return }
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
}
