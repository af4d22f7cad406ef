/// What an identity may do in a repository. Each role includes the ones before it.
public enum Role: String, Sendable, Comparable, CaseIterable, Codable {
    /// Read manifests, blobs, tags and referrers.
    case pull
    /// Upload blobs and manifests.
    case push
    /// Delete manifests, tags and blobs.
    case delete
    /// Everything; on `**`, also the management API under /api/v1.
    case admin

    public static func < (lhs: Role, rhs: Role) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    /// The token `access` actions this role grants: the Docker token spec's `pull` and `push`, plus `delete`.
    public var actions: [String] {
        switch self {
        case .pull: ["pull"]
        case .push: ["pull", "push"]
        case .delete, .admin: ["pull", "push", "delete"]
        }
    }

    /// The role a token action asks for.
    public init?(action: String) {
        switch action {
        case "pull": self = .pull
        case "push": self = .push
        case "delete", "*": self = .delete
        default: return nil
        }
    }
}
