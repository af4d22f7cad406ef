import Foundation

/// How the console writes numbers, times and digests.
package enum ConsoleFormat {
    /// Binary units, one decimal below 10 (`512 B`, `1.5 KiB`, `23 MiB`).
    package static func bytes(_ count: Int64) -> String {
        guard count >= 1024 else { return "\(count) B" }
        var value = Double(count)
        var unit = 0
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return value < 10 ? String(format: "%.1f %@", value, units[unit]) : "\(Int(value.rounded())) \(units[unit])"
    }

    /// `2026-12-07 16:53:06 UTC` from seconds since 1970.
    package static func time(_ seconds: Double) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss 'UTC'"
        return formatter.string(from: Date(timeIntervalSince1970: seconds))
    }

    /// `sha256:` and the first 12 hex digits: enough to tell digests apart on a page.
    package static func shortDigest(_ digest: String) -> String {
        guard let colon = digest.firstIndex(of: ":") else { return String(digest.prefix(19)) }
        return String(digest[...colon]) + String(digest[digest.index(after: colon)...].prefix(12))
    }

    /// A percentage of a whole, rounded (`0 %` when the whole is empty).
    package static func percent(_ part: Int64, of whole: Int64) -> String {
        whole > 0 ? "\(Int((Double(part) * 100 / Double(whole)).rounded())) %" : "0 %"
    }
}
