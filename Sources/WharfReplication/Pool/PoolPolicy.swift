import Foundation

/// How the worker pool's size moves between `min` and `max` (the Cainiao Ark elastic scheduling design): three kinds
/// of policy vote every `interval` on the samples of the last `window`, and a second layer decides. The largest
/// scale-out any policy asks for wins; scale-in happens only when every policy agrees; a cool-down stops flapping.
package struct PoolPolicy: Sendable, Equatable {
    package var min = 1
    package var max = 8
    package var interval: Duration = .seconds(5)
    package var window: Duration = .seconds(30)
    /// Workers added or removed per decision.
    package var step = 2
    package var cooldown: Duration = .seconds(30)
    package var service = ServiceThresholds()
    package var resource = ResourceThresholds()
    /// Daily windows with a minimum pool (nightly syncs), and an optional maximum outside them.
    package var windows: [TimeWindow] = []
    package var maxOutsideWindows: Int?

    package init() {}

    /// Scale out above `upper`; scale in allowed when both measures are below their `lower`.
    package struct ServiceThresholds: Sendable, Equatable {
        package var queuePerWorkerUpper = 4.0
        package var queuePerWorkerLower = 1.0
        package var lagUpper = 5.0
        package var lagLower = 1.0
    }

    /// Any one above its `upper` forbids scaling out; scale in is allowed only when every one is below its `lower`.
    /// Load and run queue are per core.
    package struct ResourceThresholds: Sendable, Equatable {
        package var cpuUpper = 0.90
        package var cpuLower = 0.70
        package var load1Upper = 2.0
        package var load1Lower = 1.0
        package var runQueueUpper = 4.0
        package var runQueueLower = 2.0
    }

    /// `from`-`to` in minutes after midnight UTC (a window may cross midnight), with the pool's minimum during it.
    package struct TimeWindow: Sendable, Equatable {
        package var from: Int
        package var to: Int
        package var minWorkers: Int

        package init(from: Int, to: Int, minWorkers: Int) {
            self.from = from
            self.to = to
            self.minWorkers = minWorkers
        }

        func contains(minute: Int) -> Bool { from <= to ? (from..<to).contains(minute) : minute >= from || minute < to }
    }
}

/// One sample of what the policies look at.
package struct PoolSample: Sendable, Equatable {
    package var queueDepth: Int
    /// Seconds: how long the oldest queued task has waited.
    package var lag: Double
    /// 0…1 of all cores.
    package var cpu: Double
    package var load1PerCore: Double
    package var runQueuePerCore: Double

    package init(queueDepth: Int, lag: Double, cpu: Double, load1PerCore: Double, runQueuePerCore: Double) {
        self.queueDepth = queueDepth
        self.lag = lag
        self.cpu = cpu
        self.load1PerCore = load1PerCore
        self.runQueuePerCore = runQueuePerCore
    }
}

/// What the second layer decided, with the policy and the values that made it.
package struct PoolDecision: Sendable, Equatable, Codable {
    package enum Action: String, Sendable, Codable { case scaleOut = "scale-out", scaleIn = "scale-in", hold }
    package var action: Action
    package var from: Int
    package var to: Int
    package var policy: String
    package var reason: String
}

extension PoolPolicy {
    /// The pool's next size given its `current` size, the samples of the window (oldest first), the minute of the
    /// day (UTC), and whether the cool-down since the last change has passed.
    package func decide(current: Int, samples: [PoolSample], minuteOfDay: Int, cooledDown: Bool) -> PoolDecision {
        func hold(_ policy: String, _ reason: String) -> PoolDecision {
            PoolDecision(action: .hold, from: current, to: current, policy: policy, reason: reason)
        }
        guard !samples.isEmpty else { return hold("none", "no samples yet") }
        let count = Double(samples.count)
        let queuePerWorker = samples.map { Double($0.queueDepth) }.reduce(0, +) / count / Double(Swift.max(current, 1))
        let lag = samples.map(\.lag).reduce(0, +) / count
        let cpu = samples.map(\.cpu).reduce(0, +) / count
        let load = samples.map(\.load1PerCore).reduce(0, +) / count
        let runQueue = samples.map(\.runQueuePerCore).reduce(0, +) / count
        let values = String(
            format: "queue/worker %.2f, lag %.2fs, cpu %.2f, load1/core %.2f, runqueue/core %.2f", queuePerWorker, lag,
            cpu, load, runQueue)

        // The time policy: a floor in its windows, an optional ceiling outside them.
        let window = windows.first { $0.contains(minute: minuteOfDay) }
        let floor = Swift.max(min, window?.minWorkers ?? min)
        let ceiling = window == nil ? Swift.min(max, maxOutsideWindows ?? max) : max

        // Scale-out asks: (size, policy, why). The largest wins.
        var asks: [(size: Int, policy: String, reason: String)] = []
        if current < floor { asks.append((floor, "time", "window minimum \(floor)")) }
        let resourceHot: String? =
            cpu > resource.cpuUpper
            ? "cpu" : load > resource.load1Upper ? "load1" : runQueue > resource.runQueueUpper ? "runqueue" : nil
        var serviceOut: String?
        if queuePerWorker > service.queuePerWorkerUpper { serviceOut = "queue depth per worker" }
        if lag > service.lagUpper { serviceOut = serviceOut.map { $0 + " and lag" } ?? "lag" }
        if let serviceOut, resourceHot == nil {
            asks.append((current + step, "service", serviceOut + " above the upper threshold"))
        }
        if let largest = asks.max(by: { $0.size < $1.size }) {
            let target = Swift.min(largest.size, ceiling)
            // A floor is configuration, not load: it is honoured at once; load-driven growth waits out the cool-down.
            if target > current, cooledDown || largest.policy == "time" {
                return PoolDecision(
                    action: .scaleOut, from: current, to: target, policy: largest.policy, reason: "\(largest.reason): \(values)")
            }
        }
        if let serviceOut, let resourceHot {
            return hold("resource", "\(serviceOut) asks for more, but \(resourceHot) is above its upper threshold: \(values)")
        }
        if current > ceiling {
            return PoolDecision(
                action: .scaleIn, from: current, to: ceiling, policy: "time",
                reason: "outside the windows the maximum is \(ceiling)")
        }

        // Scale in only by consensus, and never below the floor.
        let serviceIn = queuePerWorker < service.queuePerWorkerLower && lag < service.lagLower
        let resourceIn = cpu < resource.cpuLower && load < resource.load1Lower && runQueue < resource.runQueueLower
        let timeIn = current > floor
        if serviceIn, resourceIn, timeIn, cooledDown {
            return PoolDecision(
                action: .scaleIn, from: current, to: Swift.max(current - step, floor), policy: "all",
                reason: "every policy is below its lower threshold: \(values)")
        }
        let holding = !serviceIn ? "service" : !resourceIn ? "resource" : !timeIn ? "time" : "cool-down"
        return hold(holding, values)
    }
}
