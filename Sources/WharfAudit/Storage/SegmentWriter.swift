import Foundation

/// Appends records to the newest segment, sealing it and starting the next when it is full or old. Owned by
/// the log's writer thread.
final class SegmentWriter {
    let segments: AuditSegments
    private let settings: AuditSettings
    private(set) var number: Int
    private var file: AuditFile
    private(set) var size: Int64
    /// When the segment's first record was written (or, after a restart, the time that record holds); nil while
    /// it is empty.
    private var openedAt: Int64?
    private(set) var nextSeq: UInt64
    private(set) var lastHash: String
    /// What recovery found and did, for the log to record once it runs.
    private(set) var recoveryNote: String?

    /// Opens the newest segment, cutting off the torn tail a crash can leave: bytes after the last newline, and
    /// trailing lines that are not records at all.
    init(settings: AuditSettings) throws {
        self.settings = settings
        segments = AuditSegments(directory: settings.directory)
        try segments.createDirectory()
        let numbers = try segments.numbers()
        number = numbers.last ?? 1
        file = try AuditFile(path: segments.path(number), writable: true)
        size = 0
        nextSeq = 1
        lastHash = AuditLine.genesis
        if numbers.count > 1, let previous = try Self.scan(segments.path(numbers[numbers.count - 2])) {
            nextSeq = previous.lastSeq + 1
            lastHash = previous.lastHash
        }
        let scan = try Self.scan(file.path)
        if let scan {
            nextSeq = scan.lastSeq + 1
            lastHash = scan.lastHash
            openedAt = scan.firstTime
        }
        let goodEnd = scan?.end ?? 0
        let fileSize = try file.size()
        if fileSize > goodEnd {
            try file.truncate(to: goodEnd)
            try file.sync()
            recoveryNote = "cut \(fileSize - goodEnd) bytes of torn records from the end of \(file.path)"
        }
        size = goodEnd
        if numbers.isEmpty { AuditFile.syncDirectory(settings.directory) }
        if scan?.sealed == true { try startNextSegment() }
    }

    struct Scan {
        var lastSeq: UInt64
        var lastHash: String
        /// Where the last good record ends.
        var end: Int64
        var firstTime: Int64?
        var sealed: Bool
    }

    /// The last record of a segment; nil if it has none. Only bytes after it (a torn line, or lines that are
    /// not records at all) count as a torn tail: a record that does not chain is damage for `verify` to report,
    /// never something to cut.
    static func scan(_ path: String) throws -> Scan? {
        let file = try AuditFile(path: path, writable: false)
        var last: (seq: UInt64, offset: Int64, length: Int)?
        var firstTime: Int64?
        try file.forEachLine { offset, line in
            guard let header = AuditLine.header(line) else { return true }
            if last == nil { firstTime = AuditLine.time(line).flatMap(AuditTime.parse) }
            last = (header.seq, offset, line.count)
            return true
        }
        guard let last else { return nil }
        let line = try file.read(count: last.length, at: last.offset)[...]
        return Scan(
            lastSeq: last.seq, lastHash: AuditLine.hash(line), end: last.offset + Int64(last.length) + 1,
            firstTime: firstTime, sealed: isSeal(line))
    }

    static func isSeal(_ line: ArraySlice<UInt8>) -> Bool {
        AuditLine.contains(#","action":"segment-sealed","#, in: line)
    }

    /// Whether the segment should be sealed before more records go into it.
    func isDue(now: Int64) -> Bool {
        guard size > 0 else { return false }
        if size >= settings.segmentBytes { return true }
        if let openedAt, now - openedAt >= settings.segmentAge.milliseconds { return true }
        return false
    }

    /// Appends records and fsyncs; returns each record's line and index row. On failure nothing is left
    /// half-written: the segment is cut back to where it was.
    func append(_ batch: AuditBatch) throws -> [(line: ArraySlice<UInt8>, row: AuditIndex.Row)] {
        let start = (size: size, seq: nextSeq, hash: lastHash)
        var buffer: [UInt8] = []
        buffer.reserveCapacity(batch.bytes.count + batch.count * 96)
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(batch.count)
        for index in batch.entries.indices {
            let start = buffer.count
            AuditLine.encodeHeader(seq: nextSeq, prev: lastHash, into: &buffer)
            buffer.append(contentsOf: batch.body(index))
            lastHash = AuditLine.hash(buffer[start...])
            nextSeq += 1
            ranges.append(start..<buffer.count)
            buffer.append(UInt8(ascii: "\n"))
        }
        do {
            try file.write(buffer, at: size)
            try file.sync()
        } catch {
            try? file.truncate(to: start.size)
            (nextSeq, lastHash) = (start.seq, start.hash)
            throw error
        }
        size += Int64(buffer.count)
        if openedAt == nil { openedAt = AuditTime.nowMillis() }
        return zip(ranges, batch.entries).enumerated().map { offset, record in
            let (range, entry) = record
            let row = AuditIndex.Row(
                seq: start.seq + UInt64(offset), time: entry.time, actor: entry.actor, action: entry.action,
                repository: entry.repository, status: entry.status, segment: number,
                offset: start.size + Int64(range.lowerBound), length: range.count)
            return (buffer[range], row)
        }
    }

    /// Ends the segment with a `segment-sealed` record (its `prev` is the segment's final hash) and starts the next.
    func seal() throws -> [(line: ArraySlice<UInt8>, row: AuditIndex.Row)] {
        let records = nextSeq
        let sealed = try append(
            AuditBatch(
                .system(
                    .segmentSealed,
                    "segment \(number) sealed after record \(records - 1); the chain continues in segment \(number + 1)")))
        try startNextSegment()
        return sealed
    }

    private func startNextSegment() throws {
        number += 1
        file = try AuditFile(path: segments.path(number), writable: true)
        try file.truncate(to: 0)
        size = 0
        openedAt = nil
        AuditFile.syncDirectory(settings.directory)
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}
