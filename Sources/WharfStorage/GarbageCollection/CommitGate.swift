/// Keeps garbage collection apart from what it could race with: any number of shared sections (a blob moved into
/// place and linked, a manifest and its references written, a client told that a blob exists) run together, but
/// never while a sweep decides what is garbage and deletes it. A sweep waits for the shared sections in flight
/// and holds new ones back for its few milliseconds.
actor CommitGate {
    private var commits = 0
    private var sweeping = false
    private var waitingCommits: [CheckedContinuation<Void, Never>] = []
    private var waitingSweeps: [CheckedContinuation<Void, Never>] = []

    func shared<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        while sweeping || !waitingSweeps.isEmpty {
            await withCheckedContinuation { waitingCommits.append($0) }
        }
        commits += 1
        defer {
            commits -= 1
            if commits == 0, !waitingSweeps.isEmpty { waitingSweeps.removeFirst().resume() }
        }
        return try await body()
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
        return try await body()
    }
}
