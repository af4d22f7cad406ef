import Foundation
import Logging
import Synchronization
import WharfCore
import WharfStorage

extension ReplicationService {
    /// Tasks a worker claims at once: a run of small copies costs one claim and one finish, not one of each per copy.
    static let batch = 8

    /// One worker's turn: claims the next few due tasks, if any, and carries them out. Returns whether there were any
    /// (a worker with work goes on at once; an idle one waits before it looks again).
    func work() async throws -> Bool {
        let writes = clientWrites.total
        if burst.withLock({ $0.holdsOff(writes: writes, now: .now) }) { return false }
        let metadata = registry.metadata
        if try await metadata.hasReplicationOutbox() { try await metadata.drainReplicationOutbox() }
        let active = activeRules()
        guard try await metadata.hasDueReplicationTasks(rules: active) else { return false }
        let tasks = try await metadata.claimReplicationTasks(limit: Self.batch, lease: seconds(settings.lease), rules: active)
        guard !tasks.isEmpty else { return false }
        let ids = tasks.map(\.id)
        inFlight.withLock { $0.formUnion(ids) }
        defer { inFlight.withLock { $0.subtract(ids) } }
        var finished = [MetadataStore.Finished]()
        var untried = [Int64]()
        var interruption: (any Error)?
        for task in tasks {
            // The rule's remote went down during this batch (or the server is stopping): the rest wait, untried.
            if interruption != nil || pausedRules().contains(task.rule) {
                untried.append(task.id)
                continue
            }
            do {
                if let bytes = try await execute(task) { finished.append(.init(id: task.id, bytes: bytes)) }
            } catch {
                interruption = error
            }
        }
        try await metadata.finishReplicationTasks(finished)
        try await metadata.releaseReplicationTasks(untried)
        if let interruption { throw interruption }
        return true
    }

    /// Rules whose remote is down: their tasks are not claimed until its backoff ends, so that an outage costs one
    /// attempt per backoff step, not one per queued task.
    func pausedRules() -> Set<String> {
        let now = ContinuousClock.now
        return outages.withLock { Set($0.filter { $0.value.until > now }.keys) }
    }

    /// The rules whose tasks may run now: enabled, and not held back by an outage of their remote.
    func activeRules() -> [String] {
        let paused = pausedRules()
        return ruleSet.withLock { set in set.order.filter { set.runtimes[$0]?.rule.enabled == true && !paused.contains($0) } }
    }

    /// Carries out one task; returns the bytes it copied, or nil when it failed (and is deferred or failed for good).
    private func execute(_ task: ReplicationTask) async throws -> Int64? {
        let metadata = registry.metadata
        guard let runtime = rules[task.rule] else {
            try await metadata.deferReplicationTask(
                task.id, error: "the rule '\(task.rule)' no longer exists", bytes: 0, retryAfter: nil)
            return nil
        }
        let rule = runtime.rule
        let remote = RemoteSide(client: runtime.client)
        let local = LocalSide(registry: registry) { runtime.client.remoteInstance.withLock { $0 } }
        let (source, target): (any RegistrySide, any RegistrySide) = rule.direction == .push ? (local, remote) : (remote, local)
        let bytes = Atomic<Int64>(0)
        let copier = ArtifactCopier(
            rule: rule, source: source, target: target, task: task,
            saveProgress: { try await metadata.saveReplicationProgress(task.id, $0) },
            meter: TransferMeter(throttle: runtime.throttle) { bytes.add($0, ordering: .relaxed) }, known: runtime.known)
        let start = ContinuousClock.now
        var failure: String?
        do {
            try await copier.run()
            outages.withLock { _ = $0.removeValue(forKey: rule.name) }
        } catch is CancellationError {
            throw CancellationError()  // shutting down: the lease runs out and the task is claimed again
        } catch {
            let permanent = Self.isPermanent(error)
            failure = "\(error)"
            let delay = permanent ? nil : backoff(attempt: task.attempts)
            if Self.isOutage(error) {
                outages.withLock { outages in
                    let failures = (outages[rule.name]?.failures ?? 0) + 1
                    outages[rule.name] = Outage(until: .now + .seconds(backoff(attempt: failures - 1)), failures: failures)
                }
            }
            try await metadata.deferReplicationTask(
                task.id, error: failure!, bytes: bytes.load(ordering: .relaxed), retryAfter: delay)
            logger.warning(
                permanent ? "replication task failed" : "replication task will be retried",
                metadata: [
                    "rule": "\(rule.name)", "repository": "\(task.repository)", "reference": "\(task.reference)",
                    "attempt": "\(task.attempts + 1)", "error": "\(error)",
                    "retryIn": "\(delay.map { String(format: "%.1fs", $0) } ?? "never")",
                ])
        }
        onOutcome(
            ReplicationOutcome(
                rule: rule.name, remote: rule.remote.url, direction: rule.direction, kind: task.kind.rawValue,
                repository: task.repository, reference: task.reference, error: failure,
                bytes: bytes.load(ordering: .relaxed), duration: ContinuousClock.now - start))
        return failure == nil ? bytes.load(ordering: .relaxed) : nil
    }

    /// The remote as a whole is unreachable or overloaded, rather than refusing this one artifact.
    static func isOutage(_ error: any Error) -> Bool {
        guard let error = error as? RemoteError else { return false }
        // No status: the remote could not be reached at all.
        return error.status.map { [429, 502, 503, 504].contains($0) } ?? true
    }

    /// Retrying cannot help: refused credentials or rights, a manifest gone from the source, content the target
    /// refuses, a conflict the rule says not to overwrite.
    static func isPermanent(_ error: any Error) -> Bool {
        switch error {
        case let error as RemoteError: error.isPermanent
        case is ReplicationConflict: true
        case let error as RegistryError: error.httpStatus < 500
        case is RuleError: true
        default: false
        }
    }

    /// Seconds before attempt `attempt + 1`: doubling from `backoff` up to `maxBackoff`, with ±50% jitter so that
    /// the tasks a remote outage failed together do not come back together.
    func backoff(attempt: Int) -> Double {
        let base = seconds(settings.backoff) * pow(2, Double(min(attempt, 30)))
        return min(base, seconds(settings.maxBackoff)) * Double.random(in: 0.5...1.5)
    }
}
