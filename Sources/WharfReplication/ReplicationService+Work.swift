import Foundation
import Logging
import Synchronization
import WharfCore
import WharfStorage

extension ReplicationService {
    /// One worker's turn: claims the next due task, if any, and carries it out to its end. Returns whether there
    /// was one (a worker with work goes on at once; an idle one waits before it looks again).
    func work() async throws -> Bool {
        guard try await registry.metadata.hasDueReplicationTasks(),
            let task = try await registry.metadata.claimReplicationTasks(limit: 1, lease: seconds(settings.lease)).first
        else { return false }
        inFlight.withLock { _ = $0.insert(task.id) }
        defer { inFlight.withLock { _ = $0.remove(task.id) } }
        try await execute(task)
        return true
    }

    private func execute(_ task: ReplicationTask) async throws {
        let metadata = registry.metadata
        guard let runtime = rules[task.rule] else {
            try await metadata.deferReplicationTask(
                task.id, error: "the rule '\(task.rule)' no longer exists", bytes: 0, retryAfter: nil)
            return
        }
        let rule = runtime.rule
        let remote = RemoteSide(client: runtime.client)
        let local = LocalSide(registry: registry) { runtime.client.remoteInstance.withLock { $0 } }
        let (source, target): (any RegistrySide, any RegistrySide) = rule.direction == .push ? (local, remote) : (remote, local)
        let bytes = Atomic<Int64>(0)
        let copier = ArtifactCopier(
            rule: rule, source: source, target: target, task: task,
            saveProgress: { try await metadata.saveReplicationProgress(task.id, $0) },
            meter: TransferMeter(throttle: runtime.throttle) { bytes.add($0, ordering: .relaxed) })
        let start = ContinuousClock.now
        var failure: String?
        do {
            try await copier.run()
            try await metadata.finishReplicationTask(task.id, bytes: bytes.load(ordering: .relaxed))
        } catch is CancellationError {
            throw CancellationError()  // shutting down: the lease runs out and the task is claimed again
        } catch {
            let permanent = Self.isPermanent(error)
            failure = "\(error)"
            let delay = permanent ? nil : backoff(attempt: task.attempts)
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
