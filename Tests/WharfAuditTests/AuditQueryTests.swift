import Foundation
import GRDB
import Logging
import Testing

@testable import WharfAudit

@Suite("Audit log index and queries")
struct AuditQueryTests {
    static let count = 100_000
    static let actions = ["pull-manifest", "pull-blob", "push-blob", "push-manifest", "delete-tag", "list-tags"]

    /// Every record event(n) for n in 1...count, with action chosen by n.
    static func events() -> [AuditEvent] {
        (1...count).map { event($0, action: actions[($0 / 3) % actions.count]) }
    }

    /// All pages of a filter, following cursors; the seqs in the order given.
    static func allPages(_ log: AuditLog, _ filter: AuditFilter) async throws -> [UInt64] {
        var filter = filter
        var seqs: [UInt64] = []
        while true {
            let page = try await log.page(filter)
            seqs += page.lines.map { AuditLine.header($0[...])!.seq }
            guard let next = page.next else { return seqs }
            #expect(page.lines.count == filter.limit)
            filter.cursor = next
        }
    }

    @Test("filters and pagination are exact at 100k records, also after the index is rebuilt")
    func filtersAndPagination() async throws {
        try await withAuditDirectory { directory in
            let events = Self.events()
            try await writeRecords(directory, events, batch: 5000)
            // Record n has seq n (the log writes nothing of its own here).
            func expected(_ matches: (AuditEvent) -> Bool) -> [UInt64] {
                events.enumerated().filter { matches($0.element) }.map { UInt64($0.offset + 1) }.reversed()
            }
            for round in 0..<2 {
                let log = try openLog(directory)
                #expect(try (log.storage as! SegmentStorage).index.count() == Self.count)
                var filter = AuditFilter()
                filter.limit = 1000
                filter.repository = "repo-5"
                #expect(try await Self.allPages(log, filter) == expected { $0.repository == "repo-5" })

                filter = AuditFilter()
                filter.limit = 250
                filter.actor = "user-3"
                filter.action = "push-blob"
                filter.status = "4xx"
                #expect(
                    try await Self.allPages(log, filter)
                        == expected { $0.actor == "user-3" && $0.action == "push-blob" && $0.status == 404 })

                filter = AuditFilter()
                filter.limit = 1000
                filter.since = baseTime + 40_000
                filter.until = baseTime + 45_000
                filter.status = "500"
                #expect(
                    try await Self.allPages(log, filter)
                        == expected { $0.timeMillis >= filter.since! && $0.timeMillis < filter.until! && $0.status == 500 })

                // Newest first, the first page of everything, with each record's fields as written.
                filter = AuditFilter()
                filter.limit = 3
                let page = try await log.page(filter)
                #expect(try page.lines.map { try decode($0).seq } == [100_000, 99_999, 99_998])
                #expect(try decode(page.lines[0]).id == "request-100000" && page.next == 99_998)
                #expect(
                    try await log.page(
                        {
                            var none = AuditFilter(); none.repository = "nope"; return none
                        }()
                    ).lines.isEmpty)
                log.close()
                // Second round: the same answers from an index rebuilt from the segments.
                if round == 0 {
                    for suffix in ["", "-wal", "-shm"] {
                        try? FileManager.default.removeItem(atPath: directory + "/index.db" + suffix)
                    }
                }
            }
            #expect(try AuditVerifier.verify(directory: directory).isIntact)
        }
    }

    @Test("concurrent writes are indexed behind the writer, and a flush returns only once every record is found")
    func flushWaitsForTheIndex() async throws {
        try await withAuditDirectory { directory in
            let log = try openLog(directory)
            for round in 1...3 {
                let writes = 300
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for n in 1...writes { group.addTask { try await log.recordDurably(event(round * 1000 + n)) } }
                    try await group.waitForAll()
                }
                try await log.flush()
                // No wait, no retry: the records are in the index and found the moment `flush` returns.
                #expect(try (log.storage as! SegmentStorage).index.count() == round * writes)
                var filter = AuditFilter()
                filter.limit = AuditFilter.maxLimit
                #expect(try await Self.allPages(log, filter).count == round * writes)
            }
            log.close()
            #expect(try AuditVerifier.verify(directory: directory).isIntact)
        }
    }

    @Test("batches written within the indexer's window share one index transaction")
    func batchesShareIndexTransactions() async throws {
        try await withAuditDirectory { directory in
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let index = try AuditIndex(path: directory + "/index.db")
            // A window far longer than the test, so that how fast this machine runs it does not matter.
            let indexer = AuditIndexer(index: index, window: .seconds(60), logger: Logger(label: "audit-test"))
            // Batches as the writer hands them over, one durable write after another. Each index transaction adds
            // one block.
            let batches = 200
            for seq in 1...batches {
                let row = AuditIndex.Row(
                    seq: UInt64(seq), time: baseTime + Int64(seq), actor: "a", action: "push-manifest", repository: "r",
                    status: 201, segment: 1, offset: Int64(seq * 100), length: 99)
                indexer.submit([row], head: (UInt64(seq), "hash-\(seq)"))
            }
            #expect(try index.count() == 0)  // nothing before the window ends or someone flushes
            await withCheckedContinuation { continuation in indexer.whenIndexed { continuation.resume() } }
            #expect(try index.count() == batches)
            let database = try DatabaseQueue(path: directory + "/index.db")
            let blocks = try await database.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM blocks") ?? 0 }
            try database.close()
            #expect(blocks == 1, "\(blocks) index transactions for \(batches) batches")
        }
    }

    @Test("an index from before blocks existed is migrated and answers the same")
    func migratesRecordIndexes() async throws {
        try await withAuditDirectory { directory in
            let events = (1...5000).map { event($0, action: Self.actions[$0 % Self.actions.count]) }
            try await writeRecords(directory, events, batch: 700)
            // Turn the index back into the first schema: per-record indexes, no blocks.
            var busy = Configuration()
            busy.busyMode = .timeout(10)  // the log's last connection may still be closing
            let old = try DatabaseQueue(path: directory + "/index.db", configuration: busy)
            try await old.write { db in
                try db.execute(
                    sql: """
                        DROP TABLE blocks; DROP TABLE block_terms;
                        DELETE FROM grdb_migrations WHERE identifier = 'v2: blocks';
                        CREATE INDEX records_by_repository ON records(repository, seq);
                        CREATE INDEX records_by_actor ON records(actor, seq);
                        CREATE INDEX records_by_action ON records(action, seq);
                        CREATE INDEX records_by_time ON records(time);
                        """)
            }
            try old.close()
            let log = try openLog(directory)
            defer { log.close() }
            func expected(_ matches: (AuditEvent) -> Bool) -> [UInt64] {
                events.enumerated().filter { matches($0.element) }.map { UInt64($0.offset + 1) }.reversed()
            }
            var filter = AuditFilter()
            filter.repository = "repo-5"
            filter.action = "push-blob"
            filter.status = "4xx"
            filter.limit = 7
            #expect(
                try await Self.allPages(log, filter)
                    == expected { $0.repository == "repo-5" && $0.action == "push-blob" && $0.status == 404 })
            filter = AuditFilter()
            filter.since = baseTime + 1000
            filter.until = baseTime + 1200
            #expect(try await Self.allPages(log, filter) == expected { (1000..<1200).contains($0.timeMillis - baseTime) })
        }
    }
}
