/// Who is asking: a user (Wharf's own store or an htpasswd file), a robot account, or nobody.
public struct Identity: Sendable, Hashable {
    public enum Kind: String, Sendable, Codable {
        case user, robot, anonymous
    }

    /// The name as the client logs in with it: robots are `robot$<name>`.
    public let name: String
    public let kind: Kind
    public let groups: Set<String>

    public init(name: String, kind: Kind, groups: Set<String> = []) {
        self.name = name
        self.kind = kind
        self.groups = groups
    }

    public static let anonymous = Identity(name: "anonymous", kind: .anonymous)

    /// Robots log in as `robot$<name>`, so that no user name can pass for a robot.
    public static let robotPrefix = "robot$"

    /// User, robot and group names: lower-case letters, digits, `.`, `_`, `-`; 1 to 64 characters.
    public static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy {
                (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) || [0x2e, 0x5f, 0x2d].contains($0)
            }
    }
}
