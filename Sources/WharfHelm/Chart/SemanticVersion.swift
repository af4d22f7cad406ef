/// A SemVer 2 version (`1.2.3`, `1.2.3-rc.1+build.5`), as helm requires of a chart's version; a leading `v` is
/// accepted, as helm does. Ordered by precedence (build metadata ignored).
public struct SemanticVersion: Comparable, Sendable {
    public let major: Int
    public let minor: Int
    public let patch: Int
    public let prerelease: [String]

    public init?(_ text: String) {
        var rest = Substring(text)
        if rest.first == "v" { rest = rest.dropFirst() }
        if let plus = rest.firstIndex(of: "+") {
            let build = rest[rest.index(after: plus)...]
            guard Self.identifiers(build, numericRule: false) != nil else { return nil }
            rest = rest[..<plus]
        }
        var prerelease: [String] = []
        if let dash = rest.firstIndex(of: "-") {
            guard let identifiers = Self.identifiers(rest[rest.index(after: dash)...], numericRule: true) else { return nil }
            prerelease = identifiers
            rest = rest[..<dash]
        }
        let core = rest.split(separator: ".", omittingEmptySubsequences: false)
        let numbers = core.compactMap { Self.number($0) }
        guard core.count == 3, numbers.count == 3 else { return nil }
        (major, minor, patch) = (numbers[0], numbers[1], numbers[2])
        self.prerelease = prerelease
    }

    /// Whether version text `a` comes before `b`: by precedence, or by the text itself when either is not SemVer
    /// or both rank the same.
    public static func precedes(_ a: String, _ b: String) -> Bool {
        precedes((a, SemanticVersion(a)), (b, SemanticVersion(b)))
    }

    /// The same for versions parsed already (a sort parses each once).
    static func precedes(_ a: (text: String, parsed: SemanticVersion?), _ b: (text: String, parsed: SemanticVersion?))
        -> Bool
    {
        switch (a.parsed, b.parsed) {
        case let (x?, y?) where x != y: x < y
        default: a.text < b.text
        }
    }

    private static func number(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.allSatisfy(\.isASCIIDigit), text == "0" || text.first != "0" else { return nil }
        return Int(text)
    }

    private static func identifiers(_ text: Substring, numericRule: Bool) -> [String]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        for part in parts {
            guard !part.isEmpty, part.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else {
                return nil
            }
            // A numeric pre-release identifier has no leading zero.
            if numericRule, part.allSatisfy(\.isASCIIDigit), part.count > 1, part.first == "0" { return nil }
        }
        return parts.map(String.init)
    }

    public static func < (a: SemanticVersion, b: SemanticVersion) -> Bool {
        if (a.major, a.minor, a.patch) != (b.major, b.minor, b.patch) {
            return (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
        }
        // A pre-release comes before its release.
        if a.prerelease.isEmpty || b.prerelease.isEmpty { return !a.prerelease.isEmpty && b.prerelease.isEmpty }
        for (x, y) in zip(a.prerelease, b.prerelease) where x != y {
            switch (Int(x), Int(y)) {
            case let (x?, y?): return x < y
            case (.some, nil): return true
            case (nil, .some): return false
            case (nil, nil): return x < y
            }
        }
        return a.prerelease.count < b.prerelease.count
    }

    public static func == (a: SemanticVersion, b: SemanticVersion) -> Bool {
        (a.major, a.minor, a.patch) == (b.major, b.minor, b.patch) && a.prerelease == b.prerelease
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
