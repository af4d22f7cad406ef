import Foundation
import Testing

@testable import WharfAudit

/// The batches that carry encoded records to the writer: each record's body is its line after the chain header,
/// appending batches keeps every body in place, and putting back after a failed write keeps the reads only, in
/// order, within the limit.
@Suite struct AuditBatchTests {
    @Test func bodiesFollowTheChainHeaderAndSurviveAppendingAndPuttingBack() throws {
        var batch = AuditBatch(event(0), durable: true)
        var more = AuditBatch()
        for n in 1..<6 { more.append(event(n), durable: n % 2 == 0) }
        batch.append(contentsOf: more)
        #expect(batch.count == 6)

        for n in 0..<6 {
            var line: [UInt8] = []
            AuditLine.encodeHeader(seq: UInt64(n + 1), prev: AuditLine.genesis, into: &line)
            line += batch.body(n)
            let record = try decode(line)
            #expect(record.seq == UInt64(n + 1) && record.id == "request-\(n)" && record.userAgent == "test \"agent\"\n")
            #expect(batch.entries[n].actor == "user-\(n)" && batch.entries[n].repository == "repo-\(n)")
            #expect(batch.entries[n].status == [200, 404, 500][n % 3] && batch.entries[n].time == baseTime + Int64(n))
        }

        let reads = batch.reads(limit: 2)
        #expect(reads.entries.map(\.durable) == [false, false])
        #expect(reads.body(0) == batch.body(1) && reads.body(1) == batch.body(3))
        #expect(batch.reads(limit: 10).count == 3)
    }
}
