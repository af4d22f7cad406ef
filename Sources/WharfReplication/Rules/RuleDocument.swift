import Foundation

/// A rule as written: in the configuration file (`replication.rules`), in the API's bodies, and (without its
/// password) in the metadata store.
package struct RuleDocument: Codable, Sendable, Equatable {
    package struct Remote: Codable, Sendable, Equatable {
        package var url: String
        package var username: String?
        package var password: String?
        package var passwordEnv: String?
        package var caFile: String?
        package var insecure: Bool?
    }
    package struct Repositories: Codable, Sendable, Equatable {
        package var include: [String]?
        package var exclude: [String]?
    }
    package struct Tags: Codable, Sendable, Equatable {
        package var globs: [String]?
        package var regex: String?
    }
    package struct Rewrite: Codable, Sendable, Equatable {
        package var from: String
        package var to: String
    }
    package var name: String
    package var direction: ReplicationRule.Direction
    package var remote: Remote
    package var repositories: Repositories?
    package var tags: Tags?
    package var referrers: Bool?
    package var deletes: Bool?
    package var overwrite: Bool?
    package var rewrite: Rewrite?
    package var triggers: [ReplicationRule.Trigger]?
    /// A duration such as `90s`, `30m`, `24h`.
    package var interval: String?
    package var bandwidth: Int64?
    package var enabled: Bool?

    /// The rule it describes, checked; `parseDuration` reads `interval`.
    package func rule(parseDuration: (String) -> Duration?) throws -> ReplicationRule {
        let remote = WharfReplication.Remote(
            url: self.remote.url, username: self.remote.username, password: self.remote.password,
            passwordEnv: self.remote.passwordEnv, caFile: self.remote.caFile, insecure: self.remote.insecure ?? false)
        let tags = try TagFilter(globs: self.tags?.globs ?? [], regex: self.tags?.regex)
        var rule = ReplicationRule(
            name: name, direction: direction, remote: remote,
            repositories: RepositoryFilter(include: repositories?.include ?? ["**"], exclude: repositories?.exclude ?? []),
            tags: tags, triggers: triggers.map(Set.init))
        if let referrers { rule.referrers = referrers }
        if let deletes { rule.deletes = deletes }
        if let overwrite { rule.overwrite = overwrite }
        if let rewrite { rule.rewrite = NamespaceRewrite(from: rewrite.from, to: rewrite.to) }
        if let interval {
            guard let duration = parseDuration(interval) else {
                throw RuleError(field: "interval", "'\(interval)' is not a duration such as 90s, 30m, 24h or 7d")
            }
            rule.interval = duration
        }
        rule.bandwidth = bandwidth
        if let enabled { rule.enabled = enabled }
        try rule.validate()
        return rule
    }

    /// The document of a rule, without its password.
    package init(_ rule: ReplicationRule) {
        name = rule.name
        direction = rule.direction
        remote = Remote(
            url: rule.remote.url, username: rule.remote.username, password: nil, passwordEnv: rule.remote.passwordEnv,
            caFile: rule.remote.caFile, insecure: rule.remote.insecure)
        repositories = Repositories(
            include: rule.repositories.include.map(\.description), exclude: rule.repositories.exclude.map(\.description))
        tags = Tags(globs: rule.tags.globs.map(\.description), regex: rule.tags.regex)
        referrers = rule.referrers
        deletes = rule.deletes
        overwrite = rule.overwrite
        rewrite = rule.rewrite.map { Rewrite(from: $0.from, to: $0.to) }
        triggers = rule.triggers.sorted { $0.rawValue < $1.rawValue }
        interval = rule.interval.map { "\($0.components.seconds)s" }
        bandwidth = rule.bandwidth
        enabled = rule.enabled
    }
}
