import Foundation

/// What `wharf audit verify` found.
public struct AuditVerification: Sendable {
    public struct Problem: Sendable, CustomStringConvertible {
        public let segment: String
        public let line: Int
        public let seq: UInt64?
        public let message: String

        public var description: String {
            "\(segment) line \(line)" + (seq.map { " (record \($0))" } ?? "") + ": \(message)"
        }
    }

    public var segments = 0
    public var records = 0
    public var firstSeq: UInt64?
    public var lastSeq: UInt64?
    public var lastHash: String?
    public var problems: [Problem] = []
    /// Facts that are not damage: the log starts after retention removed older segments, a record is being
    /// written right now.
    public var notes: [String] = []

    public var isIntact: Bool { problems.isEmpty }
}

/// Checks a log directory (the live one, or a copy) against itself: every record must carry the next sequence
/// number and the hash of the record before it, every segment but the newest must end with its seal, the log
/// may start later only where a retention record says so, and its end must match the newest record the index
/// saw. Any edited, removed, inserted or reordered record breaks one of these, at the place it is reported.
public enum AuditVerifier {
    public static func verify(directory: String) throws -> AuditVerification {
        let segments = AuditSegments(directory: directory)
        let numbers = try segments.numbers()
        var result = AuditVerification()
        result.segments = numbers.count
        var expected: (seq: UInt64, hash: String)?
        var firstPrev: String?
        var anchors: Set<String> = []
        let head = try indexHead(segments)
        var headHash: String?
        for (position, number) in numbers.enumerated() {
            let name = segments.name(number)
            if position > 0, numbers[position - 1] != number - 1 {
                result.problems.append(
                    .init(
                        segment: name, line: 0, seq: nil,
                        message: "segments \(numbers[position - 1] + 1)-\(number - 1) are missing"))
            }
            func problem(_ line: Int, _ seq: UInt64?, _ message: String) {
                result.problems.append(.init(segment: name, line: line, seq: seq, message: message))
            }
            let file = try AuditFile(path: segments.path(number), writable: false)
            var lineNumber = 0
            var sealed = false
            let end = try file.forEachLine { _, line in
                lineNumber += 1
                let hash = AuditLine.hash(line)
                defer { sealed = SegmentWriter.isSeal(line) }
                guard let header = AuditLine.header(line) else {
                    problem(lineNumber, nil, "not an audit record")
                    expected = expected.map { ($0.seq + 1, hash) }
                    return true
                }
                if let before = expected {
                    if header.seq != before.seq + 1 {
                        problem(
                            lineNumber, header.seq,
                            "expected record \(before.seq + 1) here: records were removed, inserted or reordered")
                    }
                    if header.prev != before.hash {
                        problem(
                            lineNumber, header.seq,
                            "does not chain to the record before it (record \(before.seq)): one of them was changed, "
                                + "or records were removed, inserted or reordered here")
                    }
                } else {
                    firstPrev = header.prev
                    result.firstSeq = header.seq
                }
                if header.seq == head?.seq { headHash = hash }
                if let anchor = retentionAnchor(line) { anchors.insert(anchor) }
                expected = (header.seq, hash)
                result.records += 1
                return true
            }
            let size = try file.size()
            if position == numbers.count - 1 {
                if size > end {
                    result.notes.append(
                        "\(size - end) bytes at the end of \(name) are a record being written or torn by a crash "
                            + "(the server cuts a torn record off when it starts)")
                }
            } else {
                if size > end { problem(lineNumber + 1, nil, "the segment ends in a torn record") }
                if !sealed { problem(lineNumber, expected?.seq, "the segment is not sealed: records were removed from its end") }
            }
        }
        result.lastSeq = expected?.seq
        result.lastHash = expected?.hash
        if let firstPrev, let firstSeq = result.firstSeq,
            let name = numbers.first.map(segments.name)
        {
            if firstPrev == AuditLine.genesis {
                if firstSeq != 1 {
                    result.problems.append(
                        .init(segment: name, line: 1, seq: firstSeq, message: "the first record is not record 1"))
                }
            } else if anchors.contains(firstPrev) {
                result.notes.append("the log starts at record \(firstSeq): retention removed the records before it")
            } else {
                result.problems.append(
                    .init(
                        segment: name, line: 1, seq: firstSeq,
                        message: "the log starts at record \(firstSeq) and no retention record says why earlier ones are gone"))
            }
        }
        if let head {
            let name = numbers.last.map(segments.name) ?? "(no segment)"
            if head.seq > result.lastSeq ?? 0 {
                result.problems.append(
                    .init(
                        segment: name, line: 0, seq: result.lastSeq,
                        message:
                            "the log ends at record \(result.lastSeq ?? 0) but record \(head.seq) was written: records were removed from the end"
                    ))
            } else if let headHash, headHash != head.hash {
                result.problems.append(
                    .init(segment: name, line: 0, seq: head.seq, message: "record \(head.seq) was changed after it was written"))
            }
        }
        return result
    }

    /// The newest record the index saw, when the directory has an index.
    private static func indexHead(_ segments: AuditSegments) throws -> (seq: UInt64, hash: String)? {
        guard FileManager.default.fileExists(atPath: segments.indexPath) else { return nil }
        return try AuditIndex(path: segments.indexPath).head()
    }

    /// The hash a retention record says the chain continues from.
    private static func retentionAnchor(_ line: ArraySlice<UInt8>) -> String? {
        guard AuditLine.contains(#""action":"audit-retention""#, in: line),
            let record = try? JSONDecoder().decode(AuditRecord.self, from: Data(line)), let detail = record.detail,
            let range = detail.range(of: "the chain continues from ")
        else { return nil }
        return String(detail[range.upperBound...].prefix(64))
    }
}
