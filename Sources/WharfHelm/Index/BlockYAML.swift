/// A JSON value written as block-style YAML, the way helm writes `index.yaml` (sigs.k8s.io/yaml: JSON turned into
/// YAML, every mapping's keys sorted, a sequence under a key at the key's indentation). A string stays plain only
/// when YAML cannot read it as anything else; otherwise it is double-quoted, with every character YAML does not allow
/// raw escaped (one odd chart must not make the whole index unreadable). Written directly: Yams' encoder took
/// seconds for an index of a few thousand versions.
enum BlockYAML {
    static func emit(_ value: GoJSON.Value) -> [UInt8] {
        var out: [UInt8] = []
        switch value {
        case .object(let members) where !members.isEmpty: mapping(members, indent: 0, inline: false, to: &out)
        default: inline(value, to: &out)
        }
        return out
    }

    private static func mapping(_ members: [(String, GoJSON.Value)], indent: Int, inline: Bool, to out: inout [UInt8]) {
        for (i, (key, value)) in members.sorted(by: { $0.0 < $1.0 }).enumerated() {
            if i > 0 || !inline { out += repeatElement(UInt8(ascii: " "), count: indent) }
            scalar(key, to: &out)
            out.append(UInt8(ascii: ":"))
            switch value {
            case .object(let children) where !children.isEmpty:
                out.append(UInt8(ascii: "\n"))
                mapping(children, indent: indent + 2, inline: false, to: &out)
            case .array(let items) where !items.isEmpty:
                out.append(UInt8(ascii: "\n"))
                sequence(items, indent: indent, to: &out)
            default:
                out.append(UInt8(ascii: " "))
                self.inline(value, to: &out)
            }
        }
    }

    private static func sequence(_ items: [GoJSON.Value], indent: Int, to out: inout [UInt8]) {
        for item in items {
            out += repeatElement(UInt8(ascii: " "), count: indent)
            out.append(UInt8(ascii: "-"))
            switch item {
            case .object(let members) where !members.isEmpty:
                out.append(UInt8(ascii: " "))
                mapping(members, indent: indent + 2, inline: true, to: &out)
            case .array(let nested) where !nested.isEmpty:
                out.append(UInt8(ascii: "\n"))
                sequence(nested, indent: indent + 2, to: &out)
            default:
                out.append(UInt8(ascii: " "))
                inline(item, to: &out)
            }
        }
    }

    /// A scalar or an empty collection, and the end of its line.
    private static func inline(_ value: GoJSON.Value, to out: inout [UInt8]) {
        switch value {
        case .string(let text): scalar(text, to: &out)
        case .bool(let flag): out += (flag ? "true" : "false").utf8
        case .number(let number): out += String(number).utf8
        case .array: out += "[]".utf8
        case .object: out += "{}".utf8
        }
        out.append(UInt8(ascii: "\n"))
    }

    private static func scalar(_ text: String, to out: inout [UInt8]) {
        guard !isPlain(text) else { return out += text.utf8 }
        out.append(UInt8(ascii: "\""))
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x22: out += #"\""#.utf8
            case 0x5C: out += #"\\"#.utf8
            case 0x0A: out += #"\n"#.utf8
            case 0x09: out += #"\t"#.utf8
            // C0 and C1 controls, DEL, the Unicode line separators, the byte-order mark and the non-characters.
            case 0..<0x20, 0x7F...0x9F, 0x2028, 0x2029, 0xFEFF, 0xFFFE, 0xFFFF:
                let hex = String(scalar.value, radix: 16)
                out += (#"\u"# + String(repeating: "0", count: 4 - hex.count) + hex).utf8
            default: UTF8.encode(scalar) { out.append($0) }
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// YAML 1.1 words that read as booleans or null, whatever their case.
    private static let reserved: Set<String> = ["y", "n", "yes", "no", "on", "off", "true", "false", "null"]

    /// A letter, then letters, digits, `.`, `_`, `-` and `/`, and not a reserved word: never a number, a date, a
    /// boolean, null or YAML syntax.
    private static func isPlain(_ text: String) -> Bool {
        let utf8 = text.utf8
        guard let first = utf8.first, isLetter(first) else { return false }
        let allowed = utf8.allSatisfy { byte in
            isLetter(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "/")
        }
        return allowed && (utf8.count > 5 || !reserved.contains(text.lowercased()))
    }

    private static func isLetter(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }
}
