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
        case busy
    }

    private let entries = Mutex<[String: Entry]>([:])

    var count: Int { entries.withLock { $0.count } }

    func insert(_ id: String, _ state: State) {
        entries.withLock { $0[id] = .idle(state) }
    }

    /// Takes the session for one request. Nil if absent from memory; throws if another request holds it.
    func checkOut(_ id: String) throws(RegistryError) -> State? {
        try entries.withLock { (entries) throws(RegistryError) -> State? in
            switch entries[id] {
            case .none: return nil
            case .busy: throw .blobUploadInvalid("another request is writing to this upload", status: 409)
            case .idle(let state):
                entries[id] = .busy
                return state
            }
        }
    }

    /// Marks a session found on disk as taken by a request. False if another request took it meanwhile.
    func checkOutRecovered(_ id: String) -> Bool {
        entries.withLock { entries in
            guard entries[id] == nil else { return false }
            entries[id] = .busy
            return true
        }
    }

    /// Takes a session whether or not it is in memory, unless a request is writing to it.
    func claim(_ id: String) -> Bool {
        entries.withLock { entries in
            if case .busy = entries[id] { return false }
            entries[id] = .busy
            return true
        }
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
