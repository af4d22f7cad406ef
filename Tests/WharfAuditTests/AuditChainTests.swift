import Foundation
import Testing

@testable import WharfAudit

@Suite("Audit log chain and verify")
struct AuditChainTests {
    @Test("records are chained, durable on return, and read back with every field")
    func roundTrip() async throws {
        try await withAuditDirectory { directory in
            let log = try openLog(directory)
            var first = event(1, action: "push-manifest")
            first.tag = "v1"
            first.error = "MANIFEST_INVALID"
            first.detail = "ünïcode and \u{1}control"
            try await log.recordDurably(first)
            // Durable on return: the line is in the segment before close.
            let lines = try segmentLines(directory)
            #expect(lines.count == 2 && lines[1].isEmpty)
            let record = try decode(Array(lines[0].utf8))
            #expect(record.seq == 1 && record.prev == AuditLine.genesis)
            #expect(record.time == AuditTime.format(baseTime + 1) && AuditTime.parse(record.time) == baseTime + 1)
            #expect(record.actor == "user-1" && record.client == "10.0.0.1" && record.userAgent == "test \"agent\"\n")
            #expect(record.tag == "v1" && record.error == "MANIFEST_INVALID" && record.detail == "ünïcode and \u{1}control")
            #expect(record.durationMs == 1.234 && record.status == 404 && record.bytesOut == 1)
            log.record(event(2))
            log.close()
            let second = try decode(Array(try segmentLines(directory)[1].utf8))
            #expect(second.seq == 2 && second.prev == AuditLine.hash(Array(lines[0].utf8)[...]))
            let result = try AuditVerifier.verify(directory: directory)
            #expect(result.isIntact && result.records == 2 && result.lastSeq == 2)
        }
    }

    @Test("a read's record is written within the flush interval without anyone waiting")
    func groupCommit() async throws {
        try await withAuditDirectory { directory in
            let log = try openLog(directory) { $0.flushInterval = .milliseconds(50) }
            log.record(event(1))
            var written = false
            for _ in 0..<40 where !written {
                try await Task.sleep(for: .milliseconds(25))
                written = (try? segmentLines(directory).count) == 2
            }
            #expect(written)
            log.close()
        }
    }

    @Test("verify finds an edited byte, a removed record, two swapped records and an inserted one, and says where")
    func tampering() async throws {
        try await withAuditDirectory { directory in
            try await writeRecords(directory, (1...20).map { event($0) })
            let original = try segmentLines(directory)
            #expect(try AuditVerifier.verify(directory: directory).isIntact)

            var edited = original
            edited[5] = edited[5].replacingOccurrences(of: "\"status\":", with: "\"status\":9")
            try writeSegment(directory, edited)
            let editResult = try AuditVerifier.verify(directory: directory)
            #expect(editResult.problems.map(\.line) == [7])
            #expect(editResult.problems[0].description.contains("segment-000000000001.log line 7 (record 7)"))

            var removed = original
            removed.remove(at: 10)
            try writeSegment(directory, removed)
            let removeResult = try AuditVerifier.verify(directory: directory)
            #expect(!removeResult.isIntact && removeResult.problems.allSatisfy { $0.line == 11 })

            var swapped = original
            swapped.swapAt(3, 4)
            try writeSegment(directory, swapped)
            #expect(Set(try AuditVerifier.verify(directory: directory).problems.map(\.line)) == [4, 5, 6])

            var inserted = original
            inserted.insert(original[2], at: 8)
            try writeSegment(directory, inserted)
            #expect(Set(try AuditVerifier.verify(directory: directory).problems.map(\.line)) == [9, 10])

            // The last record changed, or records cut from the end: nothing follows to chain, the index's head tells.
            var last = original
            last[19] = last[19].replacingOccurrences(of: "user-", with: "USER-")
            try writeSegment(directory, last)
            #expect(
                try AuditVerifier.verify(directory: directory).problems.map(\.message) == [
                    "record 20 was changed after it was written"
                ])
            try writeSegment(directory, Array(original[0..<17]) + [""])
            #expect(
                try AuditVerifier.verify(directory: directory).problems.first?.message.contains(
                    "records were removed from the end") == true)

            try writeSegment(directory, original)
            #expect(try AuditVerifier.verify(directory: directory).isIntact)
        }
    }

    @Test("cutting records from the end is recorded when the log is opened again")
    func cutTailIsRecorded() async throws {
        try await withAuditDirectory { directory in
            try await writeRecords(directory, (1...10).map { event($0) })
            try writeSegment(directory, Array(try segmentLines(directory)[0..<7]) + [""])
            let log = try openLog(directory)
            log.close()
            let records = try segmentLines(directory).dropLast().map { try decode(Array($0.utf8)) }
            #expect(records.last?.action == "audit-gap")
            #expect(records.last?.detail?.contains("the log ends at record 7 but record 10") == true)
        }
    }

    @Test("a torn record at the end is cut off when the log opens, and the chain goes on")
    func tornTail() async throws {
        try await withAuditDirectory { directory in
            try await writeRecords(directory, (1...5).map { event($0) })
            let path = AuditSegments(directory: directory).path(1)
            let handle = try #require(FileHandle(forWritingAtPath: path))
            handle.seekToEndOfFile()
            handle.write(Data(#"{"seq":6,"prev":"abc","#.utf8) + Data(repeating: 0, count: 300))
            try handle.close()
            #expect(try AuditVerifier.verify(directory: directory).notes.first?.contains("torn by a crash") == true)
            let log = try openLog(directory)
            try await log.recordDurably(event(6))
            log.close()
            let records = try segmentLines(directory).dropLast().map { try decode(Array($0.utf8)) }
            #expect(records.map(\.seq) == [1, 2, 3, 4, 5, 6, 7])
            #expect(records[5].action == "audit-recovered" && records[5].detail?.contains("cut 322 bytes") == true)
            let result = try AuditVerifier.verify(directory: directory)
            #expect(result.isIntact && result.notes.isEmpty)
        }
    }

    @Test("segments are sealed and chained; retention removes the oldest and verify accepts the recorded gap")
    func sealingAndRetention() async throws {
        try await withAuditDirectory { directory in
            let segments = AuditSegments(directory: directory)
            try await writeRecords(directory, (1...60).map { event($0) }, batch: 5) { $0.segmentBytes = 4096 }
            let numbers = try segments.numbers()
            #expect(numbers.count >= 4)
            for number in numbers.dropLast() {
                let last = try segmentLines(directory, number).dropLast().last!
                #expect(try decode(Array(last.utf8)).action == "segment-sealed")
            }
            #expect(try AuditVerifier.verify(directory: directory).isIntact)

            // A sealed segment losing its last records, or a missing segment, is reported.
            let saved = try segmentLines(directory, 2)
            try writeSegment(directory, Array(saved.dropLast(2)) + [""], number: 2)
            #expect(try AuditVerifier.verify(directory: directory).problems.contains { $0.message.contains("not sealed") })
            try writeSegment(directory, saved, number: 2)
            try FileManager.default.moveItem(atPath: segments.path(2), toPath: directory + "/elsewhere")
            #expect(
                try AuditVerifier.verify(directory: directory).problems.contains {
                    $0.message.contains("segments 2-2 are missing")
                })
            try FileManager.default.moveItem(atPath: directory + "/elsewhere", toPath: segments.path(2))

            // Retention by size: the oldest sealed segments go, with a record saying so.
            try await writeRecords(directory, (61...80).map { event($0) }, batch: 5) {
                $0.segmentBytes = 4096
                $0.retentionBytes = 9000
            }
            let remaining = try segments.numbers()
            #expect(remaining.first! > 1)
            let total = remaining.reduce(Int64(0)) { $0 + segments.size($1) }
            #expect(total < 9000 + 4096 * 2)
            let result = try AuditVerifier.verify(directory: directory)
            #expect(result.isIntact)
            #expect(result.notes.contains { $0.contains("retention removed the records before it") })
            // The retention record is indexed like any other.
            let log = try openLog(directory)
            let page = try await log.page(
                {
                    var filter = AuditFilter(); filter.action = "audit-retention"; return filter
                }())
            log.close()
            #expect(!page.lines.isEmpty)
        }
    }

    @Test("retention by age removes sealed segments whose last write is older than the limit")
    func retentionByAge() async throws {
        try await withAuditDirectory { directory in
            let segments = AuditSegments(directory: directory)
            try await writeRecords(directory, (1...30).map { event($0) }, batch: 5) { $0.segmentBytes = 4096 }
            let before = try segments.numbers()
            #expect(before.count >= 3)
            try await Task.sleep(for: .milliseconds(2100))  // segment times are kept in whole seconds
            try await writeRecords(directory, (31...45).map { event($0) }, batch: 5) {
                $0.segmentBytes = 4096
                $0.retentionAge = .seconds(1)
            }
            let after = try segments.numbers()
            #expect(after.first! > before.last! - 1)  // every segment sealed before the pause is gone
            let result = try AuditVerifier.verify(directory: directory)
            #expect(result.isIntact)
            #expect(result.notes.contains { $0.contains("retention removed the records before it") })
        }
    }
}
