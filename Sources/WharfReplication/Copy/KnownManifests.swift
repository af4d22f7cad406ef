import Synchronization
import WharfCore

/// Manifests a rule has found or put on its target, by destination repository: a run of tags on one manifest asks
/// the target about it once. Bounded (the oldest are forgotten first); a copy that the target refuses forgets the
/// repository's and tries again, in case someone deleted them there.
final class KnownManifests: Sendable {
    private struct State {
        var byRepository: [String: Set<Digest>] = [:]
        var order: [(repository: String, digest: Digest)] = []
    }

    private let state = Mutex(State())
    let capacity: Int

    init(capacity: Int = 4096) { self.capacity = capacity }

    func contains(_ repository: String, _ digest: Digest) -> Bool {
        state.withLock { $0.byRepository[repository]?.contains(digest) ?? false }
    }

    func insert(_ repository: String, _ digest: Digest) {
        state.withLock { state in
            guard state.byRepository[repository, default: []].insert(digest).inserted else { return }
            state.order.append((repository, digest))
            if state.order.count > capacity {
                let (oldRepository, oldDigest) = state.order.removeFirst()
                state.byRepository[oldRepository]?.remove(oldDigest)
            }
        }
    }

    /// Forgets what is known of `repository`; returns whether anything was.
    @discardableResult
    func forget(_ repository: String) -> Bool {
        state.withLock { state in
            guard let known = state.byRepository.removeValue(forKey: repository), !known.isEmpty else { return false }
            state.order.removeAll { $0.repository == repository }
            return true
        }
    }
}
