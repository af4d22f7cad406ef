/// A repository name such as `team/app`, validated against the distribution-spec grammar:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most 255 characters.
public struct RepositoryName: Hashable, Sendable, CustomStringConvertible, Comparable {
    public static let maxLength = 255
    public let value: String

    public init(_ string: some StringProtocol) throws(RegistryError) {
        let value = String(string)
        guard !value.isEmpty else { throw .nameInvalid("repository name is empty") }
        guard value.utf8.count <= Self.maxLength else {
            throw .nameInvalid("repository name is longer than \(Self.maxLength) characters")
        }
        var component = value.utf8.startIndex
        while true {
            let end = value.utf8[component...].firstIndex(of: UInt8(ascii: "/")) ?? value.utf8.endIndex
            guard Self.isValidComponent(value.utf8[component..<end]) else {
                throw .nameInvalid("invalid repository name component '\(value[component..<end])' in '\(value)'")
            }
            guard end < value.utf8.endIndex else { break }
            component = value.utf8.index(after: end)
        }
        self.value = value
    }

    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
    private static func isValidComponent(_ bytes: Substring.UTF8View) -> Bool {
        let period = UInt8(ascii: "."), underscore = UInt8(ascii: "_"), dash = UInt8(ascii: "-")
        var index = bytes.startIndex
        while true {
            // one or more alphanumerics
            let runStart = index
            while index < bytes.endIndex, bytes[index].isLowerAlnum { index = bytes.index(after: index) }
            guard index > runStart else { return false }
            guard index < bytes.endIndex else { return true }
            // a separator: ".", "_", "__" or one or more "-"
            let separator = bytes[index]
            index = bytes.index(after: index)
            switch separator {
            case period:
                break
            case underscore:
                if index < bytes.endIndex, bytes[index] == underscore { index = bytes.index(after: index) }
            case dash:
                while index < bytes.endIndex, bytes[index] == dash { index = bytes.index(after: index) }
            default:
                return false
            }
        }
    }

    public var description: String { value }
    public static func < (lhs: RepositoryName, rhs: RepositoryName) -> Bool { lhs.value < rhs.value }
}
