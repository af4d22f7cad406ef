import Foundation
import WharfReplication

/// Replication's part of the configuration file:
///
///     replication:
///       workers: 4                            # a fixed pool; or an elastic one:
///       pool: { min: 1, max: 8, interval: 5s, window: 30s, step: 2, cooldown: 30s,
///               service: { queuePerWorkerUpper: 4, queuePerWorkerLower: 1, lagUpper: 5, lagLower: 1 },
///               resource: { cpuUpper: 0.9, cpuLower: 0.7, load1Upper: 2, load1Lower: 1,
///                           runQueueUpper: 4, runQueueLower: 2 },       # load and run queue per core
///               windows: [{ from: "01:00", to: "05:00", min: 8 }], maxOutsideWindows: 4 }
///       reconcileInterval: 10m
///       lease: 60s                            # a silent worker's task is claimed again after this
///       backoff: 1s                           # first retry; doubles up to maxBackoff, with jitter
///       maxBackoff: 5m
///       yieldToClients: 500ms                 # during a push burst, copies wait up to this long (0 = never)
///       rules:
///         - name: to-eu
///           direction: push                     # or pull
///           remote: { url: "https://eu.example:5443", username: "robot$sync", passwordEnv: SYNC_SECRET,
///                     caFile: /etc/wharf/eu-ca.pem }   # or password: …, insecure: true
///           repositories: { include: ["team-a/**"], exclude: ["team-a/tmp/**"] }
///           tags: { globs: ["v*"], regex: "^release-[0-9]+$" }
///           referrers: true
///           deletes: false
///           overwrite: true
///           rewrite: { from: team-a, to: mirror/team-a }
///           triggers: [event]                   # event, schedule, manual
///           interval: 5m                        # for schedule
///           bandwidth: 10485760                 # bytes per second
///           enabled: true
public struct ReplicationOptions: Sendable, Equatable {
    package var settings = ReplicationSettings()
    package var rules: [ReplicationRule] = []

    public init() {}

    struct File: Decodable {
        struct Pool: Decodable {
            struct Service: Decodable {
                var queuePerWorkerUpper, queuePerWorkerLower, lagUpper, lagLower: Double?
            }
            struct Resource: Decodable {
                var cpuUpper, cpuLower, load1Upper, load1Lower, runQueueUpper, runQueueLower: Double?
            }
            struct Window: Decodable {
                var from: String
                var to: String
                var min: Int
            }
            var min, max, step, maxOutsideWindows: Int?
            var interval, window, cooldown: String?
            var service: Service?
            var resource: Resource?
            var windows: [Window]?
        }
        var workers: Int?
        var pool: Pool?
        var reconcileInterval: String?
        var lease: String?
        var backoff: String?
        var maxBackoff: String?
        var yieldToClients: String?
        var rules: [RuleDocument]?
    }

    mutating func apply(_ file: File) throws {
        if let workers = file.workers {
            guard (1...256).contains(workers) else {
                throw WharfConfiguration.Invalid(description: "replication.workers: 1 to 256")
            }
            (settings.pool.min, settings.pool.max) = (workers, workers)
        }
        if let pool = file.pool { try Self.apply(pool, to: &settings.pool) }
        if let interval = file.reconcileInterval {
            settings.reconcileInterval = try WharfConfiguration.duration(interval, "replication.reconcileInterval")
        }
        if let lease = file.lease { settings.lease = try WharfConfiguration.duration(lease, "replication.lease") }
        if let backoff = file.backoff { settings.backoff = try WharfConfiguration.duration(backoff, "replication.backoff") }
        if let backoff = file.maxBackoff {
            settings.maxBackoff = try WharfConfiguration.duration(backoff, "replication.maxBackoff")
        }
        if let yield = file.yieldToClients {
            settings.yieldToClients =
                ["0", "0s", "0ms"].contains(yield.trimmingCharacters(in: .whitespaces))
                ? .zero : try WharfConfiguration.duration(yield, "replication.yieldToClients")
        }
        for (index, entry) in (file.rules ?? []).enumerated() {
            let field = "replication.rules[\(index)]"
            do {
                rules.append(try Self.rule(entry))
            } catch let error as RuleError {
                throw WharfConfiguration.Invalid(description: "\(field).\(error.field): \(error.message)")
            }
        }
        if Set(rules.map(\.name)).count != rules.count {
            throw WharfConfiguration.Invalid(description: "replication.rules: two rules have the same name")
        }
    }

    private static func apply(_ file: File.Pool, to pool: inout PoolPolicy) throws {
        func duration(_ text: String?, _ name: String) throws -> Duration? {
            try text.map { try WharfConfiguration.duration($0, "replication.pool.\(name)") }
        }
        if let value = file.min { pool.min = value }
        if let value = file.max { pool.max = value }
        if let value = file.step { pool.step = value }
        pool.maxOutsideWindows = file.maxOutsideWindows ?? pool.maxOutsideWindows
        if let value = try duration(file.interval, "interval") { pool.interval = value }
        if let value = try duration(file.window, "window") { pool.window = value }
        if let value = try duration(file.cooldown, "cooldown") { pool.cooldown = value }
        if let service = file.service {
            if let value = service.queuePerWorkerUpper { pool.service.queuePerWorkerUpper = value }
            if let value = service.queuePerWorkerLower { pool.service.queuePerWorkerLower = value }
            if let value = service.lagUpper { pool.service.lagUpper = value }
            if let value = service.lagLower { pool.service.lagLower = value }
        }
        if let resource = file.resource {
            if let value = resource.cpuUpper { pool.resource.cpuUpper = value }
            if let value = resource.cpuLower { pool.resource.cpuLower = value }
            if let value = resource.load1Upper { pool.resource.load1Upper = value }
            if let value = resource.load1Lower { pool.resource.load1Lower = value }
            if let value = resource.runQueueUpper { pool.resource.runQueueUpper = value }
            if let value = resource.runQueueLower { pool.resource.runQueueLower = value }
        }
        for (index, window) in (file.windows ?? []).enumerated() {
            guard let from = minutes(window.from), let to = minutes(window.to), window.min >= 1 else {
                throw WharfConfiguration.Invalid(
                    description: "replication.pool.windows[\(index)]: from and to are HH:MM (UTC), min at least 1")
            }
            pool.windows.append(.init(from: from, to: to, minWorkers: window.min))
        }
        guard pool.min >= 1, pool.max >= pool.min, pool.max <= 256, pool.step >= 1 else {
            throw WharfConfiguration.Invalid(description: "replication.pool: 1 ≤ min ≤ max ≤ 256, and step ≥ 1")
        }
        guard pool.windows.allSatisfy({ $0.minWorkers <= pool.max }) else {
            throw WharfConfiguration.Invalid(description: "replication.pool.windows: a window's min exceeds max")
        }
    }

    /// `HH:MM` → minutes after midnight.
    private static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":").compactMap { Int($0) }
        guard parts.count == 2, (0..<24).contains(parts[0]), (0..<60).contains(parts[1]) else { return nil }
        return parts[0] * 60 + parts[1]
    }

    /// The rule a document describes, with `interval` read as the configuration's durations are.
    static func rule(_ document: RuleDocument) throws -> ReplicationRule {
        try document.rule { try? WharfConfiguration.duration($0, "interval") }
    }
}
