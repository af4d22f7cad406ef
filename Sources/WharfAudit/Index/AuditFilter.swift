/// Which records a query wants, newest first, a page at a time.
public struct AuditFilter: Sendable, Equatable {
    public var repository: String?
    public var actor: String?
    public var action: String?
    /// An exact status (`404`) or a class (`4xx`).
    public var status: String?
    /// Milliseconds since 1970, inclusive.
    public var since: Int64?
    /// Milliseconds since 1970, exclusive.
    public var until: Int64?
    public var limit: Int = 100
    /// Continue after this record: the `next` cursor of the page before.
    public var cursor: UInt64?

    public static let maxLimit = 1000

    public init() {}

    /// The status filter as a closed range, or nil when it is neither `NNN` nor `Nxx`.
    public var statusRange: ClosedRange<Int>? {
        guard let status else { return nil }
        if let exact = Int(status), (100...599).contains(exact) { return exact...exact }
        if status.count == 3, status.hasSuffix("xx"), let first = Int(status.prefix(1)), (1...5).contains(first) {
            return (first * 100)...(first * 100 + 99)
        }
        return nil
    }
}

/// One page of records, newest first, as their stored lines.
public struct AuditPage: Sendable {
    public let lines: [[UInt8]]
    /// The cursor for the next (older) page; nil when this is the last.
    public let next: UInt64?

    /// `{"records": [...], "next": "<cursor>"}`, the shape of `/api/v1/audit`.
    public var json: [UInt8] {
        var body = Array(#"{"records":["#.utf8)
        for (index, line) in lines.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body += line
        }
        body.append(UInt8(ascii: "]"))
        if let next { body += Array(#","next":"\#(next)""#.utf8) }
        body.append(UInt8(ascii: "}"))
        return body
    }
}
