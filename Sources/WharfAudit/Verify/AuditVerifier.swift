import Foundation
import WharfStorage

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
        var walk = ChainWalk(head: try indexHead(segments))
        for (position, number) in numbers.enumerated() {
            let name = segments.name(number)
            if position > 0, numbers[position - 1] != number - 1 {
                walk.problem(.init(name: name, line: 0), nil, "segments \(numbers[position - 1] + 1)-\(number - 1) are missing")
            }
            let file = try AuditFile(path: segments.path(number), writable: false)
            var lineNumber = 0
            var sealed = false
            let end = try file.forEachLine { _, line in
                lineNumber += 1
                walk.check(line, at: .init(name: name, line: lineNumber))
                sealed = SegmentWriter.isSeal(line)
                return true
            }
            let size = try file.size()
            if position == numbers.count - 1 {
                if size > end {
                    walk.note(
                        "\(size - end) bytes at the end of \(name) are a record being written or torn by a crash "
                            + "(the server cuts a torn record off when it starts)")
                }
            } else {
                if size > end { walk.problem(.init(name: name, line: lineNumber + 1), nil, "the segment ends in a torn record") }
                if !sealed {
                    walk.problem(
                        .init(name: name, line: lineNumber), walk.lastSeq,
                        "the segment is not sealed: records were removed from its end")
                }
            }
        }
        var result = walk.finish(end: .init(name: numbers.last.map(segments.name) ?? "(no segment)", line: 0))
        result.segments = numbers.count
        return result
    }

    /// Checks every instance's chain in a cluster's PostgreSQL database (see `AuditTable`): each against itself and
    /// its head, as `verify(directory:)` does a directory. Also reports a row whose indexed sequence number is not
    /// its record's. The problems name the instance, and the record's place in its chain.
    package static func verify(database: any SQLDatabase) async throws -> [(instance: String, result: AuditVerification)] {
        let heads = try await database.read { db in
            try db.rows(
                """
                SELECT i.instance, h.seq, h.hash FROM (SELECT instance FROM audit_heads UNION SELECT DISTINCT instance
                FROM audit_records) i LEFT JOIN audit_heads h ON h.instance = i.instance ORDER BY i.instance
                """)
        }
        var results: [(String, AuditVerification)] = []
        for head in heads {
            let instance: String = head["instance"]
            let name = "instance \(instance)"
            var walk = ChainWalk(
                head: (head["seq"] as Int64?).map { (UInt64($0), head["hash"] as String) })
            if head["seq"] as Int64? == nil { walk.problem(.init(name: name, line: 0), nil, "the chain has no head row") }
            var after: Int64 = -1
            var position = 0
            while true {
                let rows = try await database.read { [after] db in
                    try db.rows(
                        "SELECT seq, line FROM audit_records WHERE instance = ? AND seq > ? ORDER BY seq LIMIT 5000",
                        [instance, after])
                }
                for row in rows {
                    position += 1
                    let line = Array((row["line"] as String).utf8)[...]
                    let place = ChainWalk.Place(name: name, line: position)
                    let seq: Int64 = row["seq"]
                    if let header = AuditLine.header(line), header.seq != UInt64(seq) {
                        walk.problem(place, header.seq, "the row is indexed as record \(seq)")
                    }
                    walk.check(line, at: place)
                }
                guard let last = rows.last, rows.count == 5000 else { break }
                after = last["seq"]
            }
            var result = walk.finish(end: .init(name: name, line: 0))
            result.segments = 1
            results.append((instance, result))
        }
        return results
    }

    /// The newest record the index saw, when the directory has an index.
    private static func indexHead(_ segments: AuditSegments) throws -> (seq: UInt64, hash: String)? {
        guard FileManager.default.fileExists(atPath: segments.indexPath) else { return nil }
        return try AuditIndex(path: segments.indexPath).head()
    }
}
