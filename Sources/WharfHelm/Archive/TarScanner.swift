import Foundation

/// Reads a tar stream as it arrives (ustar, with the PAX and GNU long-name records Go's and GNU's tar write), keeping
/// only the headers and the files `keep` asks for, each at most `maxFileBytes`. Every entry's path is checked: none
/// may be absolute, climb out with `..`, or be a link, device or anything else but a file or a directory.
struct TarScanner {
    struct Entry: Equatable {
        let path: String
        let isDirectory: Bool
        let size: Int
    }

    let keep: (String) -> Bool
    let maxFileBytes: Int
    let maxEntries: Int
    private(set) var entries: [Entry] = []
    private(set) var kept: [String: [UInt8]] = [:]
    private(set) var ended = false

    private var header: [UInt8] = []
    /// What the content arriving is, and how many of its bytes (then of its padding) are still to come.
    private var current: Content?
    private var remaining = 0
    private var padding = 0
    private var content: [UInt8] = []
    /// A PAX or GNU record's long path for the next entry.
    private var longPath: String?

    init(maxFileBytes: Int = 1 << 20, maxEntries: Int = 10_000, keep: @escaping (String) -> Bool) {
        self.keep = keep
        self.maxFileBytes = maxFileBytes
        self.maxEntries = maxEntries
    }

    mutating func feed(_ bytes: UnsafeRawBufferPointer) throws {
        var index = 0
        while index < bytes.count {
            if ended {
                // After the two zero blocks only zero padding may follow.
                guard bytes[index...].allSatisfy({ $0 == 0 }) else { throw ChartError("the archive has data after its end") }
                return
            }
            if remaining > 0 {
                let take = min(remaining, bytes.count - index)
                if current?.isCollected == true {
                    content.append(contentsOf: bytes[index..<(index + take)])
                }
                remaining -= take
                index += take
                if remaining == 0 { try finishContent() }
                continue
            }
            if padding > 0 {
                let take = min(padding, bytes.count - index)
                padding -= take
                index += take
                continue
            }
            let take = min(512 - header.count, bytes.count - index)
            header.append(contentsOf: bytes[index..<(index + take)])
            index += take
            if header.count == 512 {
                try readHeader()
                header.removeAll(keepingCapacity: true)
            }
        }
    }

    /// Whether the stream ended where a tar archive may.
    var isComplete: Bool { ended || (header.isEmpty && remaining == 0 && padding == 0 && current == nil && !entries.isEmpty) }

    private mutating func readHeader() throws {
        if header.allSatisfy({ $0 == 0 }) {
            ended = true
            return
        }
        guard Self.checksumMatches(header) else { throw ChartError("the archive is not a tar file (bad header checksum)") }
        let size = try Self.octal(header[124..<136])
        let type = header[156]
        var path = Self.string(header[0..<100])
        if header[257..<262].elementsEqual("ustar".utf8) {
            let prefix = Self.string(header[345..<500])
            if !prefix.isEmpty { path = prefix + "/" + path }
        }
        if let longPath {
            path = longPath
            self.longPath = nil
        }
        remaining = size
        padding = (512 - size % 512) % 512
        content = []
        switch type {
        case UInt8(ascii: "x"), UInt8(ascii: "L"):
            // The next entry's long path: a PAX record (`NN path=…\n`) or a GNU long name.
            guard size <= 64 << 10 else { throw ChartError("the archive has an oversized extended header") }
            current = type == UInt8(ascii: "L") ? .gnuLongName : .paxHeader
        case UInt8(ascii: "g"):
            current = .skipped  // a global PAX header: nothing needed from it
        case 0, UInt8(ascii: "0"), UInt8(ascii: "5"):
            let isDirectory = type == UInt8(ascii: "5")
            let clean = try Self.checked(path)
            entries.append(Entry(path: clean, isDirectory: isDirectory, size: size))
            guard entries.count <= maxEntries else { throw ChartError("the archive has more than \(maxEntries) entries") }
            let wanted = !isDirectory && keep(clean)
            if wanted, size > maxFileBytes { throw ChartError("\(clean) is larger than \(maxFileBytes) bytes") }
            current = wanted ? .kept(path: clean) : .skipped
        default:
            throw ChartError("\(path): links and special files are not allowed in a chart")
        }
        if remaining == 0 { try finishContent() }
    }

    private mutating func finishContent() throws {
        guard let entry = current else { return }
        current = nil
        switch entry {
        case .kept(let path): kept[path] = content
        case .gnuLongName: longPath = Self.string(content[...])
        case .paxHeader: longPath = try Self.paxPath(content)
        case .skipped: break
        }
        content = []
    }

    /// What becomes of an entry's content.
    private enum Content {
        /// A file `keep` asked for.
        case kept(path: String)
        /// Any other file or directory, or a global PAX header.
        case skipped
        /// The next entry's path, as GNU tar writes a long one.
        case gnuLongName
        /// PAX records (`NN key=value\n`); one may be the next entry's path.
        case paxHeader

        var isCollected: Bool {
            if case .skipped = self { false } else { true }
        }
    }

    /// Refuses paths that could land outside the chart's directory when unpacked.
    static func checked(_ path: String) throws -> String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).filter { $0 != "." }
        guard !path.hasPrefix("/"), !path.contains("\\"), !parts.contains(".."), !parts.isEmpty else {
            throw ChartError("\(path): a path in the archive must stay inside the chart (no absolute path, no ..)")
        }
        return parts.joined(separator: "/")
    }

    private static func paxPath(_ records: [UInt8]) throws -> String? {
        var path: String?
        var rest = records[...]
        while let space = rest.firstIndex(of: UInt8(ascii: " ")) {
            guard let length = Int(String(decoding: rest[rest.startIndex..<space], as: UTF8.self)), length > 0,
                rest.count >= length
            else { throw ChartError("the archive has a malformed extended header") }
            let record = String(decoding: rest[(space + 1)..<(rest.startIndex + length - 1)], as: UTF8.self)
            if record.hasPrefix("path=") { path = String(record.dropFirst(5)) }
            rest = rest[(rest.startIndex + length)...]
        }
        return path
    }

    private static func string(_ field: ArraySlice<UInt8>) -> String {
        String(decoding: field.prefix { $0 != 0 }, as: UTF8.self)
    }

    private static func octal(_ field: ArraySlice<UInt8>) throws -> Int {
        let text = string(field).trimmingCharacters(in: .whitespaces)
        guard let value = Int(text.isEmpty ? "0" : text, radix: 8), value >= 0 else {
            throw ChartError("the archive is not a tar file (bad size field)")
        }
        return value
    }

    private static func checksumMatches(_ header: [UInt8]) -> Bool {
        guard let recorded = try? octal(header[148..<156]) else { return false }
        var sum = 0
        for (index, byte) in header.enumerated() { sum += (148..<156).contains(index) ? 32 : Int(byte) }
        return sum == recorded
    }
}
