/// Keeps garbage collection apart from what it could race with: any number of shared sections (a blob moved into
/// place and linked, a manifest and its references written, a client told that a blob exists) run together, but
/// never while a sweep decides what is garbage and deletes it. A sweep waits for the shared sections in flight
/// and holds new ones back for its few milliseconds. On a cluster, `cluster` extends this to every instance.
actor CommitGate {
    private let cluster: ClusterCommitLock?
    private var commits = 0
    private var sweeping = false
    private var waitingCommits: [CheckedContinuation<Void, Never>] = []
    private var waitingSweeps: [CheckedContinuation<Void, Never>] = []

    init(cluster: ClusterCommitLock? = nil) {
        self.cluster = cluster
    }

    func shared<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        while sweeping || !waitingSweeps.isEmpty {
            await withCheckedContinuation { waitingCommits.append($0) }
        }
        commits += 1
        defer {
            commits -= 1
            if commits == 0, !waitingSweeps.isEmpty { waitingSweeps.removeFirst().resume() }
        }
        guard let cluster else { return try await body() }
        try await cluster.enter()
        do {
            let value = try await body()
            await cluster.leave()
            return value
        } catch {
            await cluster.leave()
            throw error
        }
    }

    func sweep<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        while sweeping || commits > 0 {
            await withCheckedContinuation { waitingSweeps.append($0) }
        }
        sweeping = true
        defer {
            sweeping = false
            if !waitingSweeps.isEmpty {
                waitingSweeps.removeFirst().resume()
            } else {
                for waiter in waitingCommits { waiter.resume() }
                waitingCommits.removeAll()
            }
        }
        guard let cluster else { return try await body() }
        return try await cluster.exclusive(body)
    }
}
