import Foundation

/// Follows one chain, record after record, as `verify` reads it: each record must carry the next sequence number
/// and the hash of the record before it; the chain may start after record 1 only where a retention record names
/// the hash it continues from; and it must end at its head, the newest record the writer stored.
struct ChainWalk {
    private(set) var result = AuditVerification()
    private var expected: (seq: UInt64, hash: String)?
    private var first: (prev: String, place: Place)?
    private var anchors: Set<String> = []
    private let head: (seq: UInt64, hash: String)?
    private var headHash: String?

    /// Where a record is, for the problems found there.
    struct Place {
        var name: String
        var line: Int
    }

    init(head: (seq: UInt64, hash: String)?) {
        self.head = head
    }

    /// The sequence number of the last record checked.
    var lastSeq: UInt64? { expected?.seq }

    mutating func problem(_ place: Place, _ seq: UInt64?, _ message: String) {
        result.problems.append(.init(segment: place.name, line: place.line, seq: seq, message: message))
    }

    mutating func note(_ text: String) { result.notes.append(text) }

    /// Checks the next record of the chain, at `place`.
    mutating func check(_ line: ArraySlice<UInt8>, at place: Place) {
        let hash = AuditLine.hash(line)
        guard let header = AuditLine.header(line) else {
            problem(place, nil, "not an audit record")
            expected = expected.map { ($0.seq + 1, hash) }
            return
        }
        if let before = expected {
            if header.seq != before.seq + 1 {
                problem(place, header.seq, "expected record \(before.seq + 1) here: records were removed, inserted or reordered")
            }
            if header.prev != before.hash {
                problem(
                    place, header.seq,
                    "does not chain to the record before it (record \(before.seq)): one of them was changed, "
                        + "or records were removed, inserted or reordered here")
            }
        } else {
            first = (header.prev, place)
            result.firstSeq = header.seq
        }
        if header.seq == head?.seq { headHash = hash }
        if let anchor = Self.retentionAnchor(line) { anchors.insert(anchor) }
        expected = (header.seq, hash)
        result.records += 1
    }

    /// Checks where the chain starts and ends; `end` names its last place.
    mutating func finish(end: Place) -> AuditVerification {
        result.lastSeq = expected?.seq
        result.lastHash = expected?.hash
        if let first, let firstSeq = result.firstSeq {
            if first.prev == AuditLine.genesis {
                if firstSeq != 1 { problem(first.place, firstSeq, "the first record is not record 1") }
            } else if anchors.contains(first.prev) {
                note("the log starts at record \(firstSeq): retention removed the records before it")
            } else {
                problem(
                    first.place, firstSeq,
                    "the log starts at record \(firstSeq) and no retention record says why earlier ones are gone")
            }
        }
        if let head {
            if head.seq > result.lastSeq ?? 0 {
                problem(
                    end, result.lastSeq,
                    "the log ends at record \(result.lastSeq ?? 0) but record \(head.seq) was written: records were removed from the end"
                )
            } else if let headHash, headHash != head.hash {
                problem(end, head.seq, "record \(head.seq) was changed after it was written")
            }
        }
        return result
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
