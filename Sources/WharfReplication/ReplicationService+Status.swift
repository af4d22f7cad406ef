import Foundation
import Synchronization
import WharfStorage

/// A rule's replication at a glance, as `/api/v1/replication/status` and `wharf replication status` show it.
package struct RuleStatus: Sendable, Codable {
    package struct Failure: Sendable, Codable {
        package let id: Int64
        package let kind: String
        package let repository: String
        package let reference: String
        package let attempts: Int
        package let error: String
        package let at: Double
    }

    package let rule: String
    package let direction: String
    /// The remote's URL (never its credentials).
    package let remote: String
    package let enabled: Bool
    /// Seconds since 1970 of the newest copy or delete done.
    package let lastSuccess: Double?
    /// Seconds from the commit on the source to the copy's end, over the copies of the last hour.
    package let lagP50: Double?
    package let lagP99: Double?
    package let queued: Int
    package let running: Int
    package let failed: Int
    package let done: Int
    package let bytesCopied: Int64
    package let conflicts: Int
    package let lastReconcile: Double?
    package let workers: Int
    /// The newest failed tasks, with the remote's error.
    package let failures: [Failure]
}

extension ReplicationService {
    package func status() async throws -> [RuleStatus] {
        let metadata = registry.metadata
        let summaries = try await metadata.replicationSummary(since: Date().timeIntervalSince1970 - 3600)
        var statuses = [RuleStatus]()
        for name in ruleOrder {
            guard let rule = rules[name]?.rule else { continue }
            let summary = summaries[name] ?? ReplicationSummary()
            let failed = try await metadata.replicationTasks(rule: name, state: .failed, before: nil, limit: 10)
            statuses.append(
                RuleStatus(
                    rule: name, direction: rule.direction.rawValue, remote: rule.remote.url, enabled: rule.enabled,
                    lastSuccess: summary.lastSuccess, lagP50: Self.percentile(summary.lags, 0.50),
                    lagP99: Self.percentile(summary.lags, 0.99), queued: summary.counts[.queued] ?? 0,
                    running: summary.counts[.running] ?? 0, failed: summary.counts[.failed] ?? 0,
                    done: summary.counts[.done] ?? 0, bytesCopied: summary.bytes,
                    conflicts: conflicts.withLock { $0[name] ?? 0 }, lastReconcile: lastReconcile.withLock { $0[name] },
                    workers: pool.size.load(ordering: .relaxed),
                    failures: failed.map {
                        .init(
                            id: $0.id, kind: $0.kind.rawValue, repository: $0.repository, reference: $0.reference,
                            attempts: $0.attempts, error: $0.error ?? "", at: $0.updatedAt)
                    }))
        }
        return statuses
    }

    /// Tasks newest first, for `wharf replication tasks`.
    package func tasks(rule: String?, state: String?, before: Int64?, limit: Int) async throws -> [ReplicationTask] {
        var wanted: ReplicationTask.State?
        if let state {
            guard let parsed = ReplicationTask.State(rawValue: state) else {
                throw RuleError(field: "state", "'\(state)' is none of queued, running, done, failed")
            }
            wanted = parsed
        }
        return try await registry.metadata.replicationTasks(rule: rule, state: wanted, before: before, limit: limit)
    }

    /// The pool's bounds, size and the decisions that changed it, newest last.
    package func poolStatus() -> PoolStatus {
        PoolStatus(
            size: pool.size.load(ordering: .relaxed), min: settings.pool.min, max: settings.pool.max,
            decisions: pool.decisions)
    }

    /// The rules, in the order configured.
    package var configuredRules: [ReplicationRule] { ruleOrder.compactMap { rules[$0]?.rule } }

    /// The value below which `fraction` of the sorted `values` lie (nearest rank).
    static func percentile(_ values: [Double], _ fraction: Double) -> Double? {
        guard !values.isEmpty else { return nil }
        let rank = Int((fraction * Double(values.count)).rounded(.up)) - 1
        return values[min(max(rank, 0), values.count - 1)]
    }
}

/// The worker pool as `/api/v1/replication/pool` shows it.
package struct PoolStatus: Sendable, Codable {
    package let size: Int
    package let min: Int
    package let max: Int
    package let decisions: [WorkerPool.Decision]

    package init(size: Int, min: Int, max: Int, decisions: [WorkerPool.Decision]) {
        self.size = size
        self.min = min
        self.max = max
        self.decisions = decisions
    }
}
