/// A tag such as `v1.2`: `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}`.
public struct Tag: Hashable, Sendable, CustomStringConvertible, Comparable {
    public let value: String

    public init(_ string: some StringProtocol) throws(RegistryError) {
        let bytes = Array(string.utf8)
        guard let first = bytes.first, bytes.count <= 128,
            first.isAlnum || first == UInt8(ascii: "_"),
            bytes.allSatisfy({ $0.isAlnum || "._-".utf8.contains($0) })
        else {
            throw .manifestInvalid("invalid tag '\(string.prefix(200))'")
        }
        value = String(string)
    }

    public var description: String { value }
    public static func < (lhs: Tag, rhs: Tag) -> Bool { lhs.value < rhs.value }
}

/// What a manifest URL names: a tag or a digest.
public enum Reference: Hashable, Sendable, CustomStringConvertible {
    case tag(Tag)
    case digest(Digest)

    public init(_ string: some StringProtocol) throws(RegistryError) {
        if Self.namesDigest(string) {
            self = .digest(try Digest(string))
        } else {
            do {
                self = .tag(try Tag(string))
            } catch {
                throw RegistryError(.manifestUnknown, status: 404, "invalid tag or digest", detail: String(string.prefix(200)))
            }
        }
    }

    /// Whether a manifest URL's reference is a digest rather than a tag: only a digest holds a colon. A byte search:
    /// `String.contains(":")` goes through Foundation's `range(of:)`, which showed in profiles of every request.
    public static func namesDigest(_ string: some StringProtocol) -> Bool { string.utf8.contains(UInt8(ascii: ":")) }

    public var description: String {
        switch self {
        case .tag(let tag): tag.value
        case .digest(let digest): digest.description
        }
    }
}
