import Synchronization
import WharfCore

/// What a repository's tags and digests resolve to, and the sizes of the blobs it may read, kept in memory so that a
/// manifest GET or HEAD, or a blob HEAD, needs no database read. Coherent with this process's writes: every write that can change a resolution drops its repository's
/// entries once it has committed and before it is answered, so the very next read goes to the database.
///
/// A read that raced a write must not put back what the write replaced: the cache's generation moves on with every
/// write, and a read's answer is kept only if no write happened between the read's start and its answer (`insert`).
/// Bounded by `capacity` entries: when full, it starts again empty.
///
/// One process's view only. Used on SQLite, where this process is the only writer while it serves; on PostgreSQL,
/// where other instances write too, it is off (the design for a cluster: a `NOTIFY` from each write transaction,
/// which every instance `LISTEN`s to and drops the named repository on; until that lands, every read asks the
/// database).
final class ReferenceCache: Sendable {
    private struct State {
        var repositories: [String: Repository] = [:]
        var count = 0
        var generation: UInt64 = 0
    }

    private struct Repository {
        var references: [String: ManifestRecord] = [:]
        var blobSizes: [String: Int64] = [:]
        var count: Int { references.count + blobSizes.count }
    }

    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func lookup(_ repository: RepositoryName, _ reference: Reference) -> ManifestRecord? {
        state.withLock { $0.repositories[repository.value]?.references[reference.description] }
    }

    /// The size of a blob the repository may read; nil when not known here (which does not mean it is not linked).
    func blobSize(_ repository: RepositoryName, _ digest: Digest) -> Int64? {
        state.withLock { $0.repositories[repository.value]?.blobSizes[digest.description] }
    }

    /// Taken before a database read whose answer may be kept.
    var generation: UInt64 { state.withLock { $0.generation } }

    /// Keeps a read's answer, unless a write happened since `generation` was taken.
    func insert(_ record: ManifestRecord, for repository: RepositoryName, _ reference: Reference, readAt generation: UInt64) {
        keep(repository, readAt: generation) { $0.references.updateValue(record, forKey: reference.description) == nil }
    }

    /// Keeps a blob's size found linked to the repository, unless a write happened since `generation` was taken.
    func insert(blobSize size: Int64, for repository: RepositoryName, _ digest: Digest, readAt generation: UInt64) {
        keep(repository, readAt: generation) { $0.blobSizes.updateValue(size, forKey: digest.description) == nil }
    }

    /// `add` returns whether it added an entry rather than replaced one.
    private func keep(_ repository: RepositoryName, readAt generation: UInt64, _ add: (inout Repository) -> Bool) {
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.count >= capacity {
                state.repositories = [:]
                state.count = 0
            }
            if add(&state.repositories[repository.value, default: Repository()]) { state.count += 1 }
        }
    }

    /// After a write to `repository` (nil: to any repository) committed, or failed after maybe committing.
    func invalidate(_ repository: RepositoryName?) {
        state.withLock { state in
            state.generation &+= 1
            if let repository {
                state.count -= state.repositories.removeValue(forKey: repository.value)?.count ?? 0
            } else {
                state.repositories = [:]
                state.count = 0
            }
        }
    }

    var entries: Int { state.withLock { $0.count } }
}
