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
        var seconds = time_t(millis / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func digits(_ value: Int32, _ width: Int, then separator: UInt8?) {
            var divisor: Int32 = 1
            for _ in 1..<width { divisor *= 10 }
            while divisor > 0 {
                out.append(0x30 + UInt8(value / divisor % 10))
                divisor /= 10
            }
            if let separator { out.append(separator) }
        }
        digits(parts.tm_year + 1900, 4, then: UInt8(ascii: "-"))
        digits(parts.tm_mon + 1, 2, then: UInt8(ascii: "-"))
        digits(parts.tm_mday, 2, then: UInt8(ascii: "T"))
        digits(parts.tm_hour, 2, then: UInt8(ascii: ":"))
        digits(parts.tm_min, 2, then: UInt8(ascii: ":"))
        digits(parts.tm_sec, 2, then: UInt8(ascii: "."))
        digits(Int32(millis % 1000), 3, then: UInt8(ascii: "Z"))
    }

    /// Parses `2026-11-23T02:10:56.123Z`, `2026-11-23T02:10:56Z` or `2026-11-23`.
    public static func parse(_ text: String) -> Int64? {
        let fields = text.split(whereSeparator: { "-T:.Z".contains($0) }).map { Int($0) }
        guard fields.count == 3 || fields.count >= 6, fields.allSatisfy({ $0 != nil }) else { return nil }
        let values = fields.map { $0! }
        guard text.count == 10 || text.hasSuffix("Z") else { return nil }
        var parts = tm()
        parts.tm_year = Int32(values[0] - 1900)
        parts.tm_mon = Int32(values[1] - 1)
        parts.tm_mday = Int32(values[2])
        if values.count >= 6 {
            parts.tm_hour = Int32(values[3])
            parts.tm_min = Int32(values[4])
            parts.tm_sec = Int32(values[5])
        }
        guard (1...12).contains(values[1]), (1...31).contains(values[2]) else { return nil }
        let millis = values.count >= 7 ? values[6] : 0
        return Int64(timegm(&parts)) * 1000 + Int64(millis)
    }
}
