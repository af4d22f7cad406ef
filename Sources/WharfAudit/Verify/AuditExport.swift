/// Reads records straight from the segments, oldest first: for `wharf audit export`, and for anyone who wants
/// the stored lines of a time range without a server.
public enum AuditExport {
    /// Calls `body` with each stored line whose time is in [since, until).
    public static func forEachLine(
        directory: String, since: Int64? = nil, until: Int64? = nil, _ body: (ArraySlice<UInt8>) throws -> Void
    ) throws {
        let segments = AuditSegments(directory: directory)
        let low = since.map(AuditTime.format)
        let high = until.map(AuditTime.format)
        for number in try segments.numbers() {
            try AuditFile(path: segments.path(number), writable: false).forEachLine { _, line in
                guard let time = AuditLine.time(line) else { return true }
                if let low, time < low { return true }
                if let high, time >= high { return true }
                try body(line)
                return true
            }
        }
    }
}
