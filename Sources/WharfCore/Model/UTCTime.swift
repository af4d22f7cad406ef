#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A time's calendar fields in UTC (by `gmtime_r`), and fixed-width digits to write them with: the audit log's
/// record times, `index.yaml`'s timestamps and S3 signatures are written from these.
/// Inlinable: the audit log writes one per request.
package struct UTCTime {
    package let year: Int
    package let month: Int
    package let day: Int
    package let hour: Int
    package let minute: Int
    package let second: Int

    @inlinable package init(secondsSince1970 seconds: Int64) {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        (year, month, day) = (Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday))
        (hour, minute, second) = (Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }

    /// `value` in `width` digits, zero-padded, then `separator` when there is one.
    @inlinable package static func digits(_ value: Int, _ width: Int, then separator: UInt8? = nil, to out: inout [UInt8]) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        while divisor > 0 {
            out.append(0x30 + UInt8(value / divisor % 10))
            divisor /= 10
        }
        if let separator { out.append(separator) }
    }

    /// `2026-11-23T02:10:56.` then `fraction` in `fractionWidth` digits and `Z` (RFC 3339).
    @inlinable package func rfc3339(fraction: Int, fractionWidth: Int, to out: inout [UInt8]) {
        Self.digits(year, 4, then: UInt8(ascii: "-"), to: &out)
        Self.digits(month, 2, then: UInt8(ascii: "-"), to: &out)
        Self.digits(day, 2, then: UInt8(ascii: "T"), to: &out)
        Self.digits(hour, 2, then: UInt8(ascii: ":"), to: &out)
        Self.digits(minute, 2, then: UInt8(ascii: ":"), to: &out)
        Self.digits(second, 2, then: UInt8(ascii: "."), to: &out)
        Self.digits(fraction, fractionWidth, then: UInt8(ascii: "Z"), to: &out)
    }
}
