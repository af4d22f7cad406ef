/// One inclusive byte range resolved against a known size, parsed from an HTTP `Range` header.
public struct ByteRange: Equatable, Sendable {
    public let start: Int64
    public let end: Int64  // inclusive
    public var count: Int64 { end - start + 1 }

    public init(start: Int64, end: Int64) {
        self.start = start
        self.end = end
    }

    public enum ParseResult: Equatable, Sendable {
        /// No usable range: serve the whole body (absent header, other unit, or several ranges).
        case whole
        case range(ByteRange)
        /// Syntactically a byte range but nothing of it lies inside the body: 416.
        case unsatisfiable
    }

    /// Parses `bytes=a-b`, `bytes=a-` and the suffix form `bytes=-n` for a body of `size` bytes.
    /// Malformed byte ranges are unsatisfiable; a header with several ranges is answered with the whole body,
    /// which RFC 9110 allows.
    public static func parse(_ header: String?, size: Int64) -> ParseResult {
        guard let header = header?.trimmingSpaces, !header.isEmpty else { return .whole }
        guard header.lowercased().hasPrefix("bytes=") else { return .whole }
        let spec = header.dropFirst(6).trimmingSpaces
        if spec.contains(",") { return .whole }
        guard let dash = spec.firstIndex(of: "-") else { return .unsatisfiable }
        let first = spec[..<dash].trimmingSpaces
        let last = spec[spec.index(after: dash)...].trimmingSpaces
        if first.isEmpty {
            guard let suffix = Int64(digits: last), suffix > 0, size > 0 else { return .unsatisfiable }
            return .range(ByteRange(start: max(0, size - suffix), end: size - 1))
        }
        guard let start = Int64(digits: first), start < size else { return .unsatisfiable }
        if last.isEmpty { return .range(ByteRange(start: start, end: size - 1)) }
        guard let end = Int64(digits: last), end >= start else { return .unsatisfiable }
        return .range(ByteRange(start: start, end: min(end, size - 1)))
    }
}

extension Int64 {
    /// Only plain decimal digits (no sign, no spaces); nil on overflow.
    init?(digits: some StringProtocol) {
        guard !digits.isEmpty, digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }), let value = Int64(digits) else {
            return nil
        }
        self = value
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
