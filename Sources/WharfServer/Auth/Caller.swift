import WharfAuth

/// Who sent a request, as far as the gate could tell, and what they may do.
struct Caller: Sendable {
    let identity: Identity
    /// How they proved it: `none`, `basic` or `bearer`; the audit log records it.
    let auth: String
    /// What their token grants; nil when no token limits them (Basic auth, no credentials, or auth off).
    let grants: [ResourceAccess]?
    /// nil when access control is off: everyone may do everything.
    let policy: AccessPolicy?

    static let unrestricted = Caller(identity: .anonymous, auth: "none", grants: nil, policy: nil)

    /// Whether the catalog shows `repository` to this caller: the policy lets them pull it (a catalog token names
    /// no repositories).
    func sees(_ repository: String) -> Bool {
        policy?.allows(identity, .pull, in: repository) ?? true
    }

    /// Whether this caller may act in `repository` with `role`: both the policy and their token must allow it.
    func may(_ role: Role, in repository: String) -> Bool {
        guard let policy else { return true }
        return policy.allows(identity, role, in: repository)
            && (grants.map { $0.contains { $0.grants(role, in: repository) } } ?? true)
    }
}
