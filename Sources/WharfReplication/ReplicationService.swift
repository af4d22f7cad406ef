import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import WharfCore
import WharfStorage

/// How replication runs, whatever the rules.
package struct ReplicationSettings: Sendable, Equatable {
    /// How many copies run at once, and how that number moves with the load.
    package var pool = PoolPolicy()
    /// How often every rule compares both sides and queues what differs (and `wharf replication run` does now).
    package var reconcileInterval: Duration = .seconds(600)
    /// A claimed task whose worker goes silent this long is claimed again (its worker died).
    package var lease: Duration = .seconds(60)
    /// The first retry's delay; each next one doubles, up to `maxBackoff`, with jitter.
    package var backoff: Duration = .seconds(1)
    package var maxBackoff: Duration = .seconds(300)
    /// Finished tasks are kept this long, for status and lag.
    package var keepFinished: Duration = .seconds(7 * 86400)

    package init() {}
}

/// What a worker reports of each finished task, for the audit log and metrics.
package struct ReplicationOutcome: Sendable {
    package let rule: String
    package let remote: String
    package let direction: ReplicationRule.Direction
    package let kind: String
    package let repository: String
    package let reference: String
    /// nil when it succeeded.
    package let error: String?
    package let bytes: Int64
    package let duration: Duration
}

/// Replication: the rules, their remotes, the workers that carry out queued tasks, and the reconcile that queues
/// whatever the two sides differ in. Runs as a service of `wharf serve`.
package final class ReplicationService: Service, Sendable {
    let registry: Registry
    let settings: ReplicationSettings
    let logger: Logger
    let rules: [String: RuleRuntime]
    let ruleOrder: [String]
    let inFlight = Mutex<Set<Int64>>([])
    let lastReconcile = Mutex<[String: Double]>([:])
    let conflicts = Mutex<[String: Int]>([:])
    let onOutcome: @Sendable (ReplicationOutcome) -> Void
    let onPoolDecision: @Sendable (PoolDecision) -> Void
    let pool: WorkerPool

    /// A rule with its remote's client and its bandwidth throttle.
    struct RuleRuntime: Sendable {
        let rule: ReplicationRule
        let client: RegistryClient
        let throttle: Throttle?
    }

    package init(
        registry: Registry, rules: [ReplicationRule], settings: ReplicationSettings, logger: Logger,
        onOutcome: @escaping @Sendable (ReplicationOutcome) -> Void = { _ in },
        onPoolDecision: @escaping @Sendable (PoolDecision) -> Void = { _ in }
    ) async throws {
        self.registry = registry
        self.settings = settings
        self.logger = logger
        self.onOutcome = onOutcome
        self.onPoolDecision = onPoolDecision
        pool = WorkerPool(policy: settings.pool)
        let instance = try await registry.metadata.instanceID()
        var runtimes = [String: RuleRuntime]()
        for var rule in rules {
            try rule.validate()
            if rule.remote.password == nil, let variable = rule.remote.passwordEnv {
                guard let value = ProcessInfo.processInfo.environment[variable] else {
                    throw RuleError(field: "remote.passwordEnv", "rule \(rule.name): the environment has no \(variable)")
                }
                rule.remote.password = value
            }
            guard runtimes[rule.name] == nil else { throw RuleError(field: "name", "two rules are named '\(rule.name)'") }
            runtimes[rule.name] = RuleRuntime(
                rule: rule, client: try RegistryClient(remote: rule.remote, origin: instance),
                throttle: rule.bandwidth.map(Throttle.init))
        }
        self.rules = runtimes
        self.ruleOrder = rules.map(\.name)
        let planned = rules
        let clients = runtimes.mapValues(\.client)
        registry.setOutbox { change in
            OutboxPlan.tasks(for: change, rules: planned) { name in clients[name]?.remoteInstance.withLock { $0 } }
        }
    }

    package func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for worker in 0..<self.settings.pool.max {
                    group.addTask {
                        await self.loop("replication worker \(worker)", every: .milliseconds(100)) {
                            // Workers past the pool's size wait until it grows.
                            if worker < self.pool.size.load(ordering: .relaxed) { try await self.work() }
                        }
                    }
                }
                group.addTask {
                    await self.loop("replication pool", every: self.settings.pool.interval) { try await self.resizePool() }
                }
                group.addTask {
                    await self.loop("replication leases", every: self.settings.lease / 3) {
                        try await self.registry.metadata.renewReplicationLeases(
                            Array(self.inFlight.withLock { $0 }), lease: self.seconds(self.settings.lease))
                    }
                }
                group.addTask { await self.loop("replication reconcile", every: .seconds(1)) { try await self.reconcileDue() } }
                group.addTask {
                    await self.loop("replication pruning", every: .seconds(3600)) {
                        try await self.registry.metadata.pruneReplicationTasks(
                            before: Date().timeIntervalSince1970 - self.seconds(self.settings.keepFinished))
                    }
                }
            }
        }
        registry.setOutbox(nil)
        for runtime in rules.values { try? await runtime.client.shutdown() }
    }

    /// Runs `work` every `interval` until cancelled; a failure is logged and the loop goes on.
    private func loop(_ name: String, every interval: Duration, _ work: @Sendable () async throws -> Void) async {
        while !Task.isCancelled {
            do {
                try await work()
                try await Task.sleep(for: interval)
            } catch is CancellationError {
                return
            } catch {
                logger.error("\(name) failed", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: interval)
            }
        }
    }

    func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
