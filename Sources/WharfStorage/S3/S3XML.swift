import Foundation

/// The little of XML that S3's answers need: the text of elements by name. S3 writes flat, machine-made documents
/// (no attributes on the elements read here, no CDATA, no nesting of an element in itself), so a scan does.
enum S3XML {
    /// The inner text of every `<name>…</name>`, entities decoded.
    static func values(of name: String, in text: String) -> [String] { elements(name, in: text).map(unescape) }

    /// The inner XML of every `<name>…</name>` (also `<name attr="…">`), in order.
    static func elements(_ name: String, in text: String) -> [String] {
        var found: [String] = []
        var rest = text[...]
        while let open = rest.range(of: "<\(name)") {
            let after = rest[open.upperBound...]
            guard let next = after.first, next == ">" || next == " ", let start = after.firstIndex(of: ">") else {
                rest = after
                continue
            }
            let body = after[after.index(after: start)...]
            guard let close = body.range(of: "</\(name)>") else { break }
            found.append(String(body[..<close.lowerBound]))
            rest = body[close.upperBound...]
        }
        return found
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func unescape(_ text: String) -> String {
        guard text.contains("&") else { return text }
        return text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&#34;", with: "\"").replacingOccurrences(of: "&amp;", with: "&")
    }
}
