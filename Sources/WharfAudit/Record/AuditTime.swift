import WharfCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Record times: UTC with milliseconds, written `2026-11-23T02:10:56.123Z`, which sorts as text in time order.
public enum AuditTime {
    public static func nowMillis() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    public static func format(_ millis: Int64) -> String {
        var out: [UInt8] = []
        append(millis, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends the 24 bytes of `format(millis)`.
    static func append(_ millis: Int64, to out: inout [UInt8]) {
        UTCTime(secondsSince1970: millis / 1000).rfc3339(fraction: Int(millis % 1000), fractionWidth: 3, to: &out)
    }

    /// Parses `2026-11-23T02:10:56.123Z`, `2026-11-23T02:10:56Z` or `2026-11-23`; nil for anything else, a field out
    /// of its range included.
    public static func parse(_ text: String) -> Int64? {
        let pieces = text.split(whereSeparator: { "-T:.Z".contains($0) })
        guard pieces.count == 3 || pieces.count == 6 || pieces.count == 7 else { return nil }
        guard text.count == 10 || text.hasSuffix("Z") else { return nil }
        // Fixed widths (the fraction: 1 to 9 digits), so no field can overflow what it is converted to.
        let widths = [4, 2, 2, 2, 2, 2]
        for (piece, width) in zip(pieces, widths) where piece.utf8.count != width { return nil }
        guard pieces.allSatisfy({ $0.utf8.allSatisfy { (0x30...0x39).contains($0) } }) else { return nil }
        if pieces.count == 7, !(1...9).contains(pieces[6].utf8.count) { return nil }
        var values = pieces.prefix(6).map { Int($0)! }
        guard (1...12).contains(values[1]), (1...31).contains(values[2]) else { return nil }
        if values.count == 6 {
            guard values[3] < 24, values[4] < 60, values[5] <= 60 else { return nil }
        }
        // `.5` is 500 ms, `.123456` is 123 ms.
        let fraction = pieces.count == 7 ? String(pieces[6].prefix(3)) : "0"
        values.append(Int(fraction + String(repeating: "0", count: 3 - fraction.count))!)
        var parts = tm()
        parts.tm_year = Int32(values[0] - 1900)
        parts.tm_mon = Int32(values[1] - 1)
        parts.tm_mday = Int32(values[2])
        if pieces.count >= 6 {
            parts.tm_hour = Int32(values[3])
            parts.tm_min = Int32(values[4])
            parts.tm_sec = Int32(values[5])
        }
        return Int64(timegm(&parts)) * 1000 + Int64(values.last!)
    }
}
