import WharfCore

/// Who may do what where: rules that give a role on repository patterns to users, robots and groups, plus
/// repositories anyone may pull without logging in.
public struct AccessPolicy: Sendable {
    public struct Rule: Sendable {
        public var repositories: [RepositoryPattern]
        public var role: Role
        /// Names; `*` is every logged-in user.
        public var users: Set<String>
        /// Names without the `robot$` prefix; `*` is every robot.
        public var robots: Set<String>
        public var groups: Set<String>

        public init(repositories: [String], role: Role, users: [String], robots: [String], groups: [String]) {
            self.repositories = repositories.map(RepositoryPattern.init)
            self.role = role
            self.users = Set(users)
            self.robots = Set(robots)
            self.groups = Set(groups)
        }

        func applies(to identity: Identity) -> Bool {
            switch identity.kind {
            case .anonymous: false
            case .user: users.contains(identity.name) || users.contains("*") || !groups.isDisjoint(with: identity.groups)
            case .robot:
                robots.contains(String(identity.name.dropFirst(Identity.robotPrefix.count))) || robots.contains("*")
                    || !groups.isDisjoint(with: identity.groups)
            }
        }
    }

    public var rules: [Rule]
    public var anonymousPull: [RepositoryPattern]

    public init(rules: [Rule], anonymousPull: [String]) {
        self.rules = rules
        self.anonymousPull = anonymousPull.map(RepositoryPattern.init)
    }

    /// The highest role `identity` has in `repository`, nil for none.
    public func role(of identity: Identity, in repository: String) -> Role? {
        var best: Role? = anonymousPull.contains { $0.matches(repository) } ? .pull : nil
        for rule in rules where rule.applies(to: identity) && rule.repositories.contains(where: { $0.matches(repository) }) {
            best = max(best ?? rule.role, rule.role)
        }
        return best
    }

    public func allows(_ identity: Identity, _ role: Role, in repository: String) -> Bool {
        self.role(of: identity, in: repository).map { $0 >= role } ?? false
    }

    /// Admin of the whole registry (an admin rule on `**`): the management API under /api/v1.
    public func isRegistryAdmin(_ identity: Identity) -> Bool {
        rules.contains { $0.role == .admin && $0.applies(to: identity) && $0.repositories.contains(where: \.matchesEverything) }
    }
}
