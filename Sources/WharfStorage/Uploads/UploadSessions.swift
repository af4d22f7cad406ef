import Synchronization
import WharfCore

/// In-memory state of upload sessions: the running hash and size, and which session a request is writing.
///
/// The durable truth is the upload file and its row in the metadata store; this is a cache that spares a
/// re-hash at commit. A session found only on disk (after a restart) has no running hash and is re-hashed.
final class UploadSessions: Sendable {
    struct State: Sendable {
        var size: Int64
        var hasher: DigestHasher?
    }

    private enum Entry: Sendable {
        case idle(State)
        /// Held by a request, or for a moment by maintenance (key rotation re-wrapping the session's key).
        case busy(maintenance: Bool)
    }

    private let entries = Mutex<[String: Entry]>([:])

    var count: Int { entries.withLock { $0.count } }

    func insert(_ id: String, _ state: State) {
        entries.withLock { $0[id] = .idle(state) }
    }

    /// A session taken for one request: with its cached state, or known only on disk (the server restarted
    /// since the session's last request, so there is no running hash).
    struct Taken {
        let cached: State?
    }

    /// Takes the session for one request or task; nil while another holds it.
    func take(_ id: String, maintenance: Bool = false) -> Taken? {
        entries.withLock { entries in
            switch entries[id] {
            case .busy: return nil
            case .idle(let state):
                entries[id] = .busy(maintenance: maintenance)
                return Taken(cached: state)
            case .none:
                entries[id] = .busy(maintenance: maintenance)
                return Taken(cached: nil)
            }
        }
    }

    /// Takes the session for a request, waiting out maintenance, which holds it only for a moment; nil while
    /// another request holds it.
    func takeForRequest(_ id: String) async throws -> Taken? {
        while true {
            if let taken = take(id) { return taken }
            let maintenance = entries.withLock { entries in
                if case .busy(maintenance: true) = entries[id] { return true }
                return false
            }
            guard maintenance else { return nil }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    /// Gives a taken session back as it was.
    func release(_ id: String, _ taken: Taken) {
        if let state = taken.cached { checkIn(id, state) } else { remove(id) }
    }

    func checkIn(_ id: String, _ state: State) {
        entries.withLock { $0[id] = .idle(state) }
    }

    func remove(_ id: String) {
        _ = entries.withLock { $0.removeValue(forKey: id) }
    }

    /// The size of an idle session, for status requests.
    func size(_ id: String) -> Int64? {
        entries.withLock { entries in
            if case .idle(let state) = entries[id] { return state.size }
            return nil
        }
    }
}
