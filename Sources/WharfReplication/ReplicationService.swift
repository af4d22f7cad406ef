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
    /// While clients push to this instance, workers wait up to this long before copying (`ClientBurst`); zero
    /// turns it off.
    package var yieldToClients: Duration = .milliseconds(500)

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
    let ruleSet: Mutex<RuleSet>
    let instance: String
    let inFlight = Mutex<Set<Int64>>([])
    let lastReconcile = Mutex<[String: Double]>([:])
    let conflicts = Mutex<[String: Int]>([:])
    /// Rules whose remote is down, with the end of their backoff.
    let outages = Mutex<[String: Outage]>([:])
    let onOutcome: @Sendable (ReplicationOutcome) -> Void
    let onPoolDecision: @Sendable (PoolDecision) -> Void
    let pool: WorkerPool
    /// The server notes every client write here; workers hold off during a burst of them.
    package let clientWrites = ClientWrites()
    let burst: Mutex<ClientBurst>

    /// A remote found down: no task of its rule is tried before `until`; each failure in a row doubles the wait.
    struct Outage: Sendable {
        let until: ContinuousClock.Instant
        let failures: Int
    }

    /// A rule with its remote's client and its bandwidth throttle.
    struct RuleRuntime: Sendable {
        let rule: ReplicationRule
        let client: RegistryClient
        let throttle: Throttle?
        let known = KnownManifests()
    }

    /// The rules in force: the configuration file's (fixed) and those made through the API (stored).
    struct RuleSet: Sendable {
        var order: [String] = []
        var runtimes: [String: RuleRuntime] = [:]
        var fromConfiguration: Set<String> = []
    }

    var rules: [String: RuleRuntime] { ruleSet.withLock { $0.runtimes } }
    var ruleOrder: [String] { ruleSet.withLock { $0.order } }

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
        burst = Mutex(ClientBurst(limit: settings.yieldToClients))
        instance = try await registry.metadata.instanceID()
        // Every rule is checked before any client is made: a client must be shut down before it goes away.
        var prepared = [PreparedRule]()
        for rule in rules {
            guard !prepared.contains(where: { $0.rule.name == rule.name }) else {
                throw RuleError(field: "name", "two rules are named '\(rule.name)'")
            }
            prepared.append(try Self.prepare(rule))
        }
        var set = RuleSet()
        for rule in prepared {
            set.runtimes[rule.rule.name] = rule.start(instance: instance)
            set.order.append(rule.rule.name)
            set.fromConfiguration.insert(rule.rule.name)
        }
        ruleSet = Mutex(set)
        for rule in try await storedRules() where set.runtimes[rule.name] == nil {
            do {
                await install(try Self.prepare(withSecret(rule.rule, rule.secret)))
            } catch {
                logger.error("a stored replication rule cannot run", metadata: ["rule": "\(rule.name)", "error": "\(error)"])
            }
        }
        installOutbox()
        // Tasks of a rule since taken out of the configuration file would otherwise wait forever.
        try await registry.metadata.failReplicationTasks(ofRulesOtherThan: Set(ruleOrder))
    }

    package func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for worker in 0..<self.settings.pool.max {
                    group.addTask(executorPreference: BackgroundThreads.shared) {
                        await self.loop("replication worker \(worker)", every: .milliseconds(100)) {
                            // Workers past the pool's size wait until it grows.
                            while worker < self.pool.size.load(ordering: .relaxed), try await self.work() {}
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
                group.addTask(executorPreference: BackgroundThreads.shared) {
                    await self.loop("replication reconcile", every: .seconds(1)) { try await self.reconcileDue() }
                }
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
