import Foundation
import WharfReplication

/// Replication's part of the configuration file:
///
///     replication:
///       workers: 4
///       reconcileInterval: 10m
///       lease: 60s                            # a silent worker's task is claimed again after this
///       backoff: 1s                           # first retry; doubles up to maxBackoff, with jitter
///       maxBackoff: 5m
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
        struct Rule: Decodable {
            struct Remote: Decodable {
                var url: String
                var username: String?
                var password: String?
                var passwordEnv: String?
                var caFile: String?
                var insecure: Bool?
            }
            struct Repositories: Decodable {
                var include: [String]?
                var exclude: [String]?
            }
            struct Tags: Decodable {
                var globs: [String]?
                var regex: String?
            }
            struct Rewrite: Decodable {
                var from: String
                var to: String
            }
            var name: String
            var direction: ReplicationRule.Direction
            var remote: Remote
            var repositories: Repositories?
            var tags: Tags?
            var referrers: Bool?
            var deletes: Bool?
            var overwrite: Bool?
            var rewrite: Rewrite?
            var triggers: [ReplicationRule.Trigger]?
            var interval: String?
            var bandwidth: Int64?
            var enabled: Bool?
        }
        var workers: Int?
        var reconcileInterval: String?
        var lease: String?
        var backoff: String?
        var maxBackoff: String?
        var rules: [Rule]?
    }

    mutating func apply(_ file: File, environment: [String: String]) throws {
        if let workers = file.workers {
            guard (1...256).contains(workers) else {
                throw WharfConfiguration.Invalid(description: "replication.workers: 1 to 256")
            }
            settings.workers = workers
        }
        if let interval = file.reconcileInterval {
            settings.reconcileInterval = try WharfConfiguration.duration(interval, "replication.reconcileInterval")
        }
        if let lease = file.lease { settings.lease = try WharfConfiguration.duration(lease, "replication.lease") }
        if let backoff = file.backoff { settings.backoff = try WharfConfiguration.duration(backoff, "replication.backoff") }
        if let backoff = file.maxBackoff {
            settings.maxBackoff = try WharfConfiguration.duration(backoff, "replication.maxBackoff")
        }
        for (index, entry) in (file.rules ?? []).enumerated() {
            let field = "replication.rules[\(index)]"
            do {
                rules.append(try Self.rule(entry, environment: environment))
            } catch let error as RuleError {
                throw WharfConfiguration.Invalid(description: "\(field).\(error.field): \(error.message)")
            }
        }
        if Set(rules.map(\.name)).count != rules.count {
            throw WharfConfiguration.Invalid(description: "replication.rules: two rules have the same name")
        }
    }

    private static func rule(_ entry: File.Rule, environment: [String: String]) throws -> ReplicationRule {
        var password = entry.remote.password
        if let variable = entry.remote.passwordEnv {
            guard let value = environment[variable] else {
                throw RuleError(field: "remote.passwordEnv", "the environment has no \(variable)")
            }
            password = value
        }
        let remote = Remote(
            url: entry.remote.url, username: entry.remote.username, password: password, caFile: entry.remote.caFile,
            insecure: entry.remote.insecure ?? false)
        var rule = ReplicationRule(
            name: entry.name, direction: entry.direction, remote: remote,
            repositories: RepositoryFilter(
                include: entry.repositories?.include ?? ["**"], exclude: entry.repositories?.exclude ?? []),
            tags: try TagFilter(globs: entry.tags?.globs ?? [], regex: entry.tags?.regex),
            triggers: entry.triggers.map(Set.init))
        if let value = entry.referrers { rule.referrers = value }
        if let value = entry.deletes { rule.deletes = value }
        if let value = entry.overwrite { rule.overwrite = value }
        if let rewrite = entry.rewrite { rule.rewrite = NamespaceRewrite(from: rewrite.from, to: rewrite.to) }
        if let interval = entry.interval {
            do {
                rule.interval = try WharfConfiguration.duration(interval, "interval")
            } catch {
                throw RuleError(field: "interval", "'\(interval)' is not a duration such as 90s, 30m, 24h or 7d")
            }
        }
        rule.bandwidth = entry.bandwidth
        if let value = entry.enabled { rule.enabled = value }
        try rule.validate()
        return rule
    }
}
