import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

extension SegmentStorage {
    /// The oldest sealed segments that retention removes (by age of their last record, then by the total size),
    /// and the record that says so: which segments, and the hash the chain continues from, so that `verify`
    /// accepts the log starting later. Nil when nothing is due.
    func expiredSegments(current: Int, now: Int64) throws -> ([Int], AuditEvent)? {
        let numbers = try segments.numbers()
        let sealed = numbers.filter { $0 < current }
        var total = numbers.reduce(Int64(0)) { $0 + segments.size($1) }
        var expired: [Int] = []
        for number in sealed {
            let tooOld = settings.retentionAge.map { now - lastWrite(segments.path(number)) > $0.milliseconds } ?? false
            let tooBig = settings.retentionBytes.map { total > $0 } ?? false
            guard tooOld || tooBig else { break }
            expired.append(number)
            total -= segments.size(number)
        }
        guard let last = expired.last else { return nil }
        guard let successorStart = try firstHeader(segments.path(last + 1)) else { return nil }
        let event = AuditEvent.system(
            .retention,
            "removed segments \(expired[0])-\(last) through record \(successorStart.seq - 1); "
                + "the chain continues from \(successorStart.prev)")
        return (expired, event)
    }

    func removeSegments(_ numbers: [Int]) throws {
        for number in numbers { unlink(segments.path(number)) }
        AuditFile.syncDirectory(settings.directory)
        waitUntilIndexed()  // so that no row of a removed segment is inserted after its rows are removed
        if let last = numbers.last { try index.remove(segmentsThrough: last) }
    }

    private func lastWrite(_ path: String) -> Int64 {
        var info = stat()
        guard stat(path, &info) == 0 else { return 0 }
        return Int64(info.st_mtim.tv_sec) * 1000
    }

    private func firstHeader(_ path: String) throws -> (seq: UInt64, prev: String)? {
        var header: (UInt64, String)?
        try AuditFile(path: path, writable: false).forEachLine { _, line in
            header = AuditLine.header(line)
            return false
        }
        return header
    }
}
