import Foundation
import Logging
import Synchronization
import WharfStorage

/// The worker pool: `pool.max` workers exist, and those numbered below the pool's size claim tasks. Every
/// `pool.interval` the policies decide the size anew from the window's samples.
package final class WorkerPool: Sendable {
    let policy: PoolPolicy
    let size: Atomic<Int>
    private let state = Mutex(State())
    private let sampler = ResourceSampler()

    private struct State {
        var samples: [PoolSample] = []
        var lastChange = ContinuousClock.now - .seconds(86400)
        var decisions: [Decision] = []
    }

    /// A decision that changed the size (or a veto), with when it was made.
    package struct Decision: Sendable, Codable {
        package let at: Double
        package let decision: PoolDecision
    }

    init(policy: PoolPolicy) {
        self.policy = policy
        size = Atomic(policy.min)
    }

    /// Takes a sample and decides; returns the decision when it changes the size, or when the resource policies veto
    /// a scale-out the service asks for.
    func evaluate(queueDepth: Int, lag: Double) -> PoolDecision? {
        let resources = sampler.sample()
        let sample = PoolSample(
            queueDepth: queueDepth, lag: lag, cpu: resources.cpu, load1PerCore: resources.load1PerCore,
            runQueuePerCore: resources.runQueuePerCore)
        let keep = Swift.max(Int(policy.window / policy.interval), 1)
        let current = size.load(ordering: .relaxed)
        let minute = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: Date())
        let minuteOfDay = (minute.hour ?? 0) * 60 + (minute.minute ?? 0)
        return state.withLock { state in
            state.samples.append(sample)
            if state.samples.count > keep { state.samples.removeFirst(state.samples.count - keep) }
            let decision = policy.decide(
                current: current, samples: state.samples, minuteOfDay: minuteOfDay,
                cooledDown: ContinuousClock.now - state.lastChange >= policy.cooldown)
            // A veto of the resource policies is kept too (once while it lasts): it is why the pool did not grow.
            let vetoed = decision.action == .hold && decision.policy == "resource" && decision.reason.contains("asks for more")
            guard (decision.action != .hold && decision.to != current) || vetoed else { return nil }
            if vetoed, let last = state.decisions.last?.decision, last.action == .hold, last.policy == "resource" {
                return nil
            }
            if !vetoed {
                size.store(decision.to, ordering: .relaxed)
                state.lastChange = .now
            }
            state.decisions.append(Decision(at: Date().timeIntervalSince1970, decision: decision))
            if state.decisions.count > 50 { state.decisions.removeFirst() }
            return decision
        }
    }

    var decisions: [Decision] { state.withLock { $0.decisions } }
}

extension ReplicationService {
    /// One look at the queue and the host, and the pool's next size.
    func resizePool() async throws {
        // Only work that can run counts: more workers do not help a remote that is down.
        let (depth, oldest) = try await registry.metadata.replicationBacklog(rules: activeRules())
        let lag = oldest.map { Swift.max(Date().timeIntervalSince1970 - $0, 0) } ?? 0
        guard let decision = pool.evaluate(queueDepth: depth, lag: lag) else { return }
        onPoolDecision(decision)
        logger.info(
            "replication pool \(decision.action.rawValue)",
            metadata: [
                "from": "\(decision.from)", "to": "\(decision.to)", "policy": "\(decision.policy)",
                "reason": "\(decision.reason)",
            ])
    }
}
