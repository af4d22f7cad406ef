import Foundation
import WharfCore

/// One replication rule: what to copy between this instance and a remote registry, which way, and when.
package struct ReplicationRule: Sendable, Equatable {
    package enum Direction: String, Sendable, Codable {
        /// This instance → the remote.
        case push
        /// The remote → this instance.
        case pull
    }

    package enum Trigger: String, Sendable, Codable, CaseIterable {
        /// On every manifest push, tag move and delete (push rules).
        case event
        /// Every `interval`.
        case schedule
        /// Only when asked (`wharf replication run`).
        case manual
    }

    package var name: String
    package var direction: Direction
    package var remote: Remote
    package var repositories: RepositoryFilter
    package var tags: TagFilter
    /// Artifacts whose `subject` is a replicated manifest (signatures, SBOMs) travel with it.
    package var referrers = true
    /// Tag deletes, manifest deletes and tag moves are replicated too.
    package var deletes = false
    /// Whether a target tag that points elsewhere (someone pushed there directly) is overwritten.
    package var overwrite = true
    /// Replaces a leading part of the repository name on the target.
    package var rewrite: NamespaceRewrite?
    package var triggers: Set<Trigger>
    /// For `schedule`; reconcile runs every `reconcileInterval` whatever the triggers.
    package var interval: Duration?
    /// Bytes per second for blob copies; nil for no limit.
    package var bandwidth: Int64?
    package var enabled = true

    package init(
        name: String, direction: Direction, remote: Remote, repositories: RepositoryFilter = .init(),
        tags: TagFilter = .init(), triggers: Set<Trigger>? = nil
    ) {
        self.name = name
        self.direction = direction
        self.remote = remote
        self.repositories = repositories
        self.tags = tags
        self.triggers = triggers ?? (direction == .push ? [.event] : [.schedule])
    }

    /// The repository on the target that `repository` on the source is copied to.
    package func targetName(_ repository: String) -> String {
        guard let rewrite, repository == rewrite.from || repository.hasPrefix(rewrite.from + "/") else {
            return repository
        }
        let rest = repository.dropFirst(rewrite.from.count)
        return rewrite.to.isEmpty ? String(rest.drop { $0 == "/" }) : rewrite.to + rest
    }

    /// Whether a tag of `repository` on the source is replicated by this rule.
    package func replicates(repository: String, tag: String?) -> Bool {
        repositories.matches(repository) && (tag.map(tags.matches) ?? true)
    }
}

/// Where the remote registry is and how to talk to it. The password never leaves the process: not in logs, not in
/// the audit log, not in any API answer (`description` leaves it out).
package struct Remote: Sendable, Equatable, CustomStringConvertible {
    package var url: String
    package var username: String?
    package var password: String?
    /// The environment variable that holds the password, read when replication starts (so that the maintenance
    /// commands, which read the same configuration file, do not need the secret).
    package var passwordEnv: String?
    /// PEM CA bundle the remote's certificate must chain to; nil for the system's trust store.
    package var caFile: String?
    /// Skip certificate verification (tests, never production).
    package var insecure = false

    package init(
        url: String, username: String? = nil, password: String? = nil, passwordEnv: String? = nil, caFile: String? = nil,
        insecure: Bool = false
    ) {
        self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.username = username
        self.password = password
        self.passwordEnv = passwordEnv
        self.caFile = caFile
        self.insecure = insecure
    }

    package var description: String { url + (username.map { " as \($0)" } ?? "") }
}

/// Include and exclude globs over repository names, in the grammar of access policies.
package struct RepositoryFilter: Sendable, Equatable {
    package var include: [RepositoryPattern]
    package var exclude: [RepositoryPattern]

    package init(include: [String] = ["**"], exclude: [String] = []) {
        self.include = include.map(RepositoryPattern.init)
        self.exclude = exclude.map(RepositoryPattern.init)
    }

    package func matches(_ repository: String) -> Bool {
        include.contains { $0.matches(repository) } && !exclude.contains { $0.matches(repository) }
    }
}

/// Tag globs and/or a regular expression (whole-tag match); a tag passes when it matches a glob or the regex. No
/// globs and no regex: every tag.
package struct TagFilter: Sendable, Equatable {
    package var globs: [RepositoryPattern]
    package var regex: String?

    package init(globs: [String] = [], regex: String? = nil) throws {
        self.globs = globs.map(RepositoryPattern.init)
        if let regex {
            do {
                _ = try Regex(regex)
            } catch {
                throw RuleError(field: "tags.regex", "'\(regex)' is not a regular expression: \(error)")
            }
        }
        self.regex = regex
    }

    package init() { self.globs = [] }

    package func matches(_ tag: String) -> Bool {
        if globs.isEmpty && regex == nil { return true }
        if globs.contains(where: { $0.matches(tag) }) { return true }
        guard let regex, let compiled = try? Regex(regex) else { return false }
        return (try? compiled.wholeMatch(in: tag)) != nil
    }
}

/// `from` → `to` at the start of a repository name, on whole path segments (`team-a` → `mirror/team-a`).
package struct NamespaceRewrite: Sendable, Equatable {
    package var from: String
    package var to: String

    package init(from: String, to: String) {
        self.from = from
        self.to = to
    }
}

/// A rule that cannot be used, naming the field at fault.
package struct RuleError: Error, CustomStringConvertible, Equatable {
    package let field: String
    package let message: String

    package init(field: String, _ message: String) {
        self.field = field
        self.message = message
    }

    package var description: String { "\(field): \(message)" }
}
