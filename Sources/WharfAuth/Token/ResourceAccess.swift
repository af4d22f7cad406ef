import WharfCore

/// One entry of a token's `access` claim, and one parsed `scope`: `repository:team/app:pull,push` or
/// `registry:catalog:*` (Docker token authentication).
public struct ResourceAccess: Codable, Sendable, Hashable {
    public var type: String
    public var name: String
    public var actions: [String]

    public init(type: String, name: String, actions: [String]) {
        self.type = type
        self.name = name
        self.actions = actions
    }

    public static let catalog = ResourceAccess(type: "registry", name: "catalog", actions: ["*"])

    /// Parses a `scope` parameter: entries separated by spaces (or `+`, a space as HTML forms encode it in a
    /// query, which no scope contains otherwise). Repository names must be valid (so no path tricks get into a
    /// token); unknown resource types are ignored, as the token spec allows.
    public static func parse(scope: String) throws(RegistryError) -> [ResourceAccess] {
        var parsed = [ResourceAccess]()
        for entry in scope.split(whereSeparator: { $0 == " " || $0 == "+" }) {
            let parts = entry.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count >= 3 else {
                throw RegistryError.unsupported("invalid scope '\(entry.prefix(300))'", status: 400)
            }
            // `repository(plugin)` is a repository too.
            let type = parts[0].split(separator: "(").first.map(String.init) ?? ""
            let name = parts[1..<(parts.count - 1)].joined(separator: ":")
            let actions = parts[parts.count - 1].split(separator: ",").map(String.init)
            switch type {
            case "repository":
                _ = try RepositoryName(name)
                parsed.append(ResourceAccess(type: type, name: name, actions: actions))
            case "registry" where name == "catalog":
                parsed.append(.catalog)
            default:
                continue
            }
        }
        return parsed
    }

    /// Whether this grant covers `role` on `repository`.
    public func grants(_ role: Role, in repository: String) -> Bool {
        type == "repository" && name == repository && actions.contains { Role(action: $0).map { $0 >= role } ?? false }
    }
}
