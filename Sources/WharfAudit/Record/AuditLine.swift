import Crypto
import WharfCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The stored form of a record: one JSON object per line, its keys always in the same order, starting with
/// `{"seq":N,"prev":"<sha256 of the line before>",` so that the chain can be checked without parsing the rest.
/// A record's hash is the SHA-256 of its line without the newline.
enum AuditLine {
    static let genesis = String(repeating: "0", count: 64)

    /// Appends the start of a line, which chains it: `{"seq":N,"prev":"<hash>` (its body closes the quote), and on a
    /// cluster `","instance":"<id>`, the chain the record belongs to.
    static func encodeHeader(seq: UInt64, prev: String, instance: String? = nil, into out: inout [UInt8]) {
        raw(#"{"seq":"#, &out)
        decimal(seq, &out)
        field(#","prev":""#, prev, &out)
        if let instance { field(#"","instance":""#, instance, &out) }
    }

    /// Appends the rest of the record's line (without its newline): everything after the header.
    static func encodeBody(_ event: AuditEvent, into out: inout [UInt8]) {
        raw(#"","time":""#, &out)
        AuditTime.append(event.timeMillis, to: &out)
        field(#"","id":""#, event.id, &out)
        field(#"","actor":""#, event.actor, &out)
        field(#"","actorKind":""#, event.actorKind, &out)
        field(#"","auth":""#, event.auth, &out)
        field(#"","client":""#, event.client, &out)
        field(#"","userAgent":""#, event.userAgent, &out)
        field(#"","method":""#, event.method, &out)
        field(#"","path":""#, event.path, &out)
        field(#"","action":""#, event.action, &out)
        if let value = event.repository { field(#"","repository":""#, value, &out) }
        if let value = event.tag { field(#"","tag":""#, value, &out) }
        if let value = event.digest { field(#"","digest":""#, value, &out) }
        raw(#"","status":"#, &out)
        decimal(UInt64(clamping: event.status), &out)
        if let value = event.error { field(#","error":""#, value, &out) }
        raw(event.error == nil ? #","bytesIn":"# : #"","bytesIn":"#, &out)
        decimal(UInt64(clamping: event.bytesIn), &out)
        raw(#","bytesOut":"#, &out)
        decimal(UInt64(clamping: event.bytesOut), &out)
        raw(#","durationMs":"#, &out)
        let micros = UInt64(clamping: event.durationMicros)
        decimal(micros / 1000, &out)
        out.append(UInt8(ascii: "."))
        let fraction = micros % 1000
        out.append(0x30 + UInt8(fraction / 100))
        out.append(0x30 + UInt8(fraction / 10 % 10))
        out.append(0x30 + UInt8(fraction % 10))
        if let value = event.detail {
            field(#","detail":""#, value, &out)
            out.append(UInt8(ascii: "\""))
        }
        out.append(UInt8(ascii: "}"))
    }

    static func hash(_ line: ArraySlice<UInt8>) -> String {
        line.withUnsafeBytes { SHA256.hash(data: $0) }.withUnsafeBytes { $0.hexString }
    }

    /// The sequence number and previous hash at the start of a line; nil if the line does not start as ours do.
    static func header(_ line: ArraySlice<UInt8>) -> (seq: UInt64, prev: String)? {
        let seqPrefix = Array(#"{"seq":"#.utf8)
        guard line.starts(with: seqPrefix) else { return nil }
        var index = line.startIndex + seqPrefix.count
        var seq: UInt64 = 0
        var digits = 0
        while index < line.endIndex, (0x30...0x39).contains(line[index]), digits < 19 {
            seq = seq * 10 + UInt64(line[index] - 0x30)
            index += 1
            digits += 1
        }
        let prevPrefix = Array(#","prev":""#.utf8)
        guard digits > 0, line[index...].starts(with: prevPrefix) else { return nil }
        let start = index + prevPrefix.count
        guard line.endIndex - start > 64, line[start + 64] == UInt8(ascii: "\"") else { return nil }
        let prev = line[start..<start + 64]
        guard prev.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else { return nil }
        return (seq, String(decoding: prev, as: UTF8.self))
    }

    /// The `time` value of a line we wrote (it follows the header), for filtering by time without parsing.
    static func time(_ line: ArraySlice<UInt8>) -> String? {
        let key = Array(#","time":""#.utf8)
        guard let header = header(line) else { return nil }
        var start = line.startIndex + #"{"seq":,"prev":""#.utf8.count + String(header.seq).utf8.count + 65
        let instanceKey = Array(#","instance":""#.utf8)
        if line[start...].starts(with: instanceKey),
            let close = line[(start + instanceKey.count)...].firstIndex(of: UInt8(ascii: "\""))
        {
            start = close + 1
        }
        guard line[start...].starts(with: key), line.endIndex - start >= key.count + 24 else { return nil }
        return String(decoding: line[(start + key.count)..<(start + key.count + 24)], as: UTF8.self)
    }

    /// Whether `text` occurs in the line (a byte search, for the few places that look for one key and value).
    static func contains(_ text: String, in line: ArraySlice<UInt8>) -> Bool {
        let needle = Array(text.utf8)
        return line.withUnsafeBytes { haystack in
            guard let base = haystack.baseAddress, haystack.count >= needle.count else { return false }
            let last = haystack.count - needle.count
            var start = 0
            while start <= last, let hit = memchr(base + start, Int32(needle[0]), last - start + 1) {
                let at = base.distance(to: UnsafeRawPointer(hit))
                if needle.withUnsafeBytes({ memcmp(base + at, $0.baseAddress!, needle.count) }) == 0 { return true }
                start = at + 1
            }
            return false
        }
    }

    private static func raw(_ text: StaticString, _ out: inout [UInt8]) {
        out.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    static func decimal(_ value: UInt64, _ out: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { scratch in
            var value = value
            var index = 20
            repeat {
                index -= 1
                scratch[index] = 0x30 + UInt8(value % 10)
                value /= 10
            } while value > 0
            out.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[index...]))
        }
    }

    /// `prefix` (which opens the value's quotes) and the value, escaped for JSON; the closing quote comes with
    /// the next prefix.
    private static func field(_ prefix: StaticString, _ value: String, _ out: inout [UInt8]) {
        raw(prefix, &out)
        var value = value
        value.withUTF8 { bytes in
            if !bytes.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5c || $0 == 0x7f }) {
                out.append(contentsOf: bytes)
                return
            }
            let hex = Array("0123456789abcdef".utf8)
            for byte in bytes {
                switch byte {
                case UInt8(ascii: "\""): out.append(contentsOf: #"\""#.utf8)
                case UInt8(ascii: "\\"): out.append(contentsOf: #"\\"#.utf8)
                case 0..<0x20, 0x7f:
                    out.append(contentsOf: #"\u00"#.utf8)
                    out.append(hex[Int(byte >> 4)])
                    out.append(hex[Int(byte & 15)])
                default: out.append(byte)
                }
            }
        }
    }
}
