import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension SegmentStorage {
    /// One page of records matching `filter`, newest first, read from the segments at the places the index names.
    static func page(_ filter: AuditFilter, index: AuditIndex, segments: AuditSegments) throws -> AuditPage {
        let (locations, more) = try index.query(filter)
        var files: [Int: AuditFile] = [:]
        let lines = try locations.map { location in
            let file = try files[location.segment] ?? AuditFile(path: segments.path(location.segment), writable: false)
            files[location.segment] = file
            let line = try file.read(count: location.length, at: location.offset)
            guard AuditLine.header(line[...])?.seq == location.seq else {
                throw AuditError("record \(location.seq) is not where the index says; run `wharf audit verify`")
            }
            return line
        }
        return AuditPage(lines: lines, next: more ? locations.last?.seq : nil)
    }

    /// The index, created anew when it is missing or unreadable (it is rebuilt from the segments).
    static func openIndex(_ segments: AuditSegments, logger: Logger) throws -> AuditIndex {
        do {
            return try AuditIndex(path: segments.indexPath)
        } catch {
            logger.warning("rebuilding the audit index", metadata: ["error": "\(error)"])
            for suffix in ["", "-wal", "-shm"] { unlink(segments.indexPath + suffix) }
            return try AuditIndex(path: segments.indexPath)
        }
    }

    /// Makes the index hold exactly the records in the segments: drops rows past the log's end (cut as a torn
    /// tail) or in removed segments, and indexes records written after its last row. Returns a note when the
    /// log ends before the newest record the index saw: records were cut from the end, which the log then
    /// records, since its next records would otherwise hide it.
    static func reconcile(_ index: AuditIndex, with writer: SegmentWriter, logger: Logger) throws -> String? {
        let lastSeq = writer.nextSeq - 1
        var note: String?
        if let head = try index.head(), head.seq > lastSeq {
            note = "the log ends at record \(lastSeq) but record \(head.seq) (hash \(head.hash)) was written: records are missing"
            logger.error("audit records are missing", metadata: ["detail": "\(note!)"])
        }
        let numbers = try writer.segments.numbers()
        if let first = numbers.first, first > 1 { try index.remove(segmentsThrough: first - 1) }
        try index.remove(after: lastSeq)
        let last = try index.last()
        guard (last?.seq ?? 0) < lastSeq else { return note }
        try self.index(writer.segments, numbers: numbers, after: last, into: index, head: (writer.nextSeq - 1, writer.lastHash))
        logger.info("audit index brought up to date", metadata: ["through": "\(lastSeq)"])
        return note
    }

    /// Indexes the records of `numbers` past `last`, ten thousand at a time; `head` names the log's newest record.
    static func index(
        _ segments: AuditSegments, numbers: [Int], after last: AuditIndex.Location?, into index: AuditIndex,
        head: (seq: UInt64, hash: String)
    ) throws {
        var rows: [AuditIndex.Row] = []
        let decoder = JSONDecoder()
        for number in numbers where number >= (last?.segment ?? 0) {
            let start = number == last?.segment ? (last?.offset ?? 0) + Int64(last?.length ?? 0) + 1 : 0
            try AuditFile(path: segments.path(number), writable: false).forEachLine(from: start) { offset, line in
                guard let record = try? decoder.decode(AuditRecord.self, from: Data(line)) else { return true }
                rows.append(
                    AuditIndex.Row(
                        seq: record.seq, time: AuditTime.parse(record.time) ?? 0, actor: record.actor, action: record.action,
                        repository: record.repository, status: record.status, segment: number, offset: offset,
                        length: line.count))
                if rows.count >= 10_000 {
                    try index.insert(rows, head: head)
                    rows = []
                }
                return true
            }
        }
        try index.insert(rows, head: head)
    }
}
