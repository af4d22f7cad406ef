/// A glob over repository names: `*` matches within one path segment, `**` across segments, `?` one character.
/// `team-a/**` matches every repository under `team-a/`; `**` matches all.
public struct RepositoryPattern: Sendable, Hashable, CustomStringConvertible {
    public let description: String
    private let tokens: [Token]

    private enum Token: Hashable {
        case literal(UInt8)
        case one, segment, any
    }

    public init(_ text: String) {
        description = text
        var tokens = [Token]()
        let bytes = Array(text.utf8)
        var index = 0
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "*") where index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "*"):
                tokens.append(.any)
                index += 1
            case UInt8(ascii: "*"): tokens.append(.segment)
            case UInt8(ascii: "?"): tokens.append(.one)
            case let byte: tokens.append(.literal(byte))
            }
            index += 1
        }
        self.tokens = tokens
    }

    public var matchesEverything: Bool { tokens == [.any] }

    public func matches(_ name: String) -> Bool {
        Self.match(tokens[...], Array(name.utf8)[...])
    }

    private static func match(_ pattern: ArraySlice<Token>, _ name: ArraySlice<UInt8>) -> Bool {
        guard let first = pattern.first else { return name.isEmpty }
        let rest = pattern.dropFirst()
        switch first {
        case .literal(let byte):
            return name.first == byte && match(rest, name.dropFirst())
        case .one:
            return name.first.map { $0 != UInt8(ascii: "/") } == true && match(rest, name.dropFirst())
        case .segment, .any:
            var tail = name
            while true {
                if match(rest, tail) { return true }
                guard let next = tail.first, first == .any || next != UInt8(ascii: "/") else { return false }
                tail = tail.dropFirst()
            }
        }
    }
}
