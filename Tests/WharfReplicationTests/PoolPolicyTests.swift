import Testing

@testable import WharfReplication

@Suite struct PoolPolicyTests {
    static func policy() -> PoolPolicy {
        var policy = PoolPolicy()
        (policy.min, policy.max, policy.step) = (1, 8, 2)
        return policy
    }

    static func sample(queue: Int = 0, lag: Double = 0, cpu: Double = 0.1, load: Double = 0.1, runQueue: Double = 0.1)
        -> PoolSample
    {
        PoolSample(queueDepth: queue, lag: lag, cpu: cpu, load1PerCore: load, runQueuePerCore: runQueue)
    }

    @Test func aBacklogScalesOutByAStepUpToMax() {
        let decision = Self.policy().decide(current: 2, samples: [Self.sample(queue: 20)], minuteOfDay: 600, cooledDown: true)
        #expect(decision.action == .scaleOut && decision.to == 4 && decision.policy == "service")
        #expect(decision.reason.contains("queue depth per worker"))
        let capped = Self.policy().decide(current: 7, samples: [Self.sample(queue: 100)], minuteOfDay: 600, cooledDown: true)
        #expect(capped.to == 8)
        let lagging = Self.policy().decide(
            current: 2, samples: [Self.sample(queue: 1, lag: 9)], minuteOfDay: 600, cooledDown: true)
        #expect(lagging.action == .scaleOut && lagging.reason.hasPrefix("lag"))
    }

    @Test func theWindowAveragesTheSamples() {
        // One burst sample among idle ones is not a backlog: 20 / 4 samples / 2 workers = 2.5 per worker.
        let samples = [Self.sample(queue: 20), Self.sample(), Self.sample(), Self.sample()]
        #expect(Self.policy().decide(current: 2, samples: samples, minuteOfDay: 600, cooledDown: true).action == .hold)
    }

    @Test func anyHotResourceForbidsScaleOut() {
        for hot in [Self.sample(queue: 50, cpu: 0.95), Self.sample(queue: 50, load: 3), Self.sample(queue: 50, runQueue: 5)] {
            let decision = Self.policy().decide(current: 2, samples: [hot], minuteOfDay: 600, cooledDown: true)
            #expect(decision.action == .hold && decision.policy == "resource", "\(hot)")
        }
    }

    @Test func scaleInOnlyByConsensus() {
        let idle = Self.policy().decide(current: 6, samples: [Self.sample()], minuteOfDay: 600, cooledDown: true)
        #expect(idle.action == .scaleIn && idle.to == 4 && idle.policy == "all")
        // Service idle, but the host is between its thresholds: no consensus, no scale-in.
        let warm = Self.policy().decide(current: 6, samples: [Self.sample(cpu: 0.8)], minuteOfDay: 600, cooledDown: true)
        #expect(warm.action == .hold && warm.policy == "resource")
        // Queue between its thresholds.
        let busy = Self.policy().decide(current: 6, samples: [Self.sample(queue: 12)], minuteOfDay: 600, cooledDown: true)
        #expect(busy.action == .hold && busy.policy == "service")
        #expect(Self.policy().decide(current: 1, samples: [Self.sample()], minuteOfDay: 600, cooledDown: true).action == .hold)
    }

    @Test func theCooldownStopsFlapping() {
        #expect(
            Self.policy().decide(current: 2, samples: [Self.sample(queue: 50)], minuteOfDay: 0, cooledDown: false).action == .hold
        )
        #expect(Self.policy().decide(current: 6, samples: [Self.sample()], minuteOfDay: 0, cooledDown: false).action == .hold)
    }

    @Test func timeWindowsSetAFloorAndACeiling() {
        var policy = Self.policy()
        policy.windows = [.init(from: 23 * 60, to: 2 * 60, minWorkers: 6)]  // across midnight
        policy.maxOutsideWindows = 3
        let night = policy.decide(current: 1, samples: [Self.sample()], minuteOfDay: 30, cooledDown: false)
        #expect(night.action == .scaleOut && night.to == 6 && night.policy == "time")  // a floor needs no cool-down
        let stay = policy.decide(current: 6, samples: [Self.sample()], minuteOfDay: 23 * 60 + 5, cooledDown: true)
        #expect(stay.action == .hold && stay.policy == "time")
        let morning = policy.decide(current: 6, samples: [Self.sample()], minuteOfDay: 9 * 60, cooledDown: true)
        #expect(morning.action == .scaleIn && morning.to == 3 && morning.policy == "time")
        let capped = policy.decide(current: 3, samples: [Self.sample(queue: 100)], minuteOfDay: 9 * 60, cooledDown: true)
        #expect(capped.action == .hold)
    }

    @Test func theLargestScaleOutWins() {
        var policy = Self.policy()
        policy.windows = [.init(from: 0, to: 24 * 60 - 1, minWorkers: 7)]
        let decision = policy.decide(current: 4, samples: [Self.sample(queue: 100)], minuteOfDay: 600, cooledDown: true)
        #expect(decision.to == 7 && decision.policy == "time")  // the floor (7) beats the service's step (6)
    }
}
