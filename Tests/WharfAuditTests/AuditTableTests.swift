import Foundation
import Logging
import Testing
import WharfStorage
import WharfTestSupport

@testable import WharfAudit

/// The audit log of a cluster in PostgreSQL: one chain per instance, queries and `verify` across all of them. Runs in
/// the test command's PostgreSQL pass (`WHARF_TEST_METADATA=postgres`).
@Suite("Audit log on PostgreSQL", .enabled(if: TestMetadata.onPostgres))
struct AuditTableTests {
    /// A new migrated database.
    static func database() throws -> PostgreSQLDatabase {
        try PostgreSQLDatabase(settings: try TestMetadata.newDatabase()!, logger: Logger(label: "audit-test"))
    }

    static func openLog(_ database: any SQLDatabase, _ instance: String, adjust: (inout AuditSettings) -> Void = { _ in })
        throws -> AuditLog
    {
        var settings = AuditSettings(directory: "/nonexistent")  // nothing is written there on a cluster
        settings.flushInterval = .milliseconds(20)
        adjust(&settings)
        var logger = Logger(label: "audit-test")
        logger.logLevel = .critical
        return try AuditLog(settings: settings, database: database, instance: instance, logger: logger)
    }

    /// Writes `count` events through `log`, every tenth durably, from `tasks` tasks at once.
    static func write(_ log: AuditLog, _ events: [AuditEvent], tasks: Int = 4) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for part in 0..<tasks {
                group.addTask {
                    for (n, event) in events.enumerated() where n % tasks == part {
                        if n % 10 == 0 { try await log.recordDurably(event) } else { log.record(event) }
                    }
                }
            }
            try await group.waitForAll()
        }
        try await log.flush()
    }

    static func count(_ database: any SQLDatabase, _ sql: String, _ arguments: SQLArguments = []) async throws -> Int {
        try await database.read { db in try db.value(sql, arguments) ?? 0 }
    }

    @Test("instances write their own chains at once; queries page through every instance's records, filtered exactly")
    func instancesShareOneQueryableLog() async throws {
        let database = try Self.database()
        let logs = try ["node-a", "node-b", "node-c"].map { try Self.openLog(database, $0) }
        // Events 1...900, a third through each instance, all at once.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, log) in logs.enumerated() {
                group.addTask { try await Self.write(log, (1...900).filter { $0 % 3 == index }.map { event($0) }) }
            }
            try await group.waitForAll()
        }
        let chains = try await AuditVerifier.verify(database: database)
        #expect(chains.map(\.instance) == ["node-a", "node-b", "node-c"])
        for (_, result) in chains {
            #expect(result.isIntact && result.records == 300 && result.firstSeq == 1 && result.lastSeq == 300)
        }

        // Every record once, newest stored first, across instances, by cursor.
        func all(_ filter: AuditFilter) async throws -> [AuditRecord] {
            var filter = filter
            var records: [AuditRecord] = []
            while true {
                let page = try await logs[1].page(filter)
                records += try page.lines.map(decode)
                guard let next = page.next else { return records }
                #expect(page.lines.count == filter.limit)
                filter.cursor = next
            }
        }
        var filter = AuditFilter()
        filter.limit = 128
        let everything = try await all(filter)
        // Newest first by the requests' time, whichever instance wrote them (event n came at baseTime + n).
        #expect(everything.map(\.id) == (1...900).reversed().map { "request-\($0)" })
        #expect(Set(everything.map(\.instance)) == ["node-a", "node-b", "node-c"])
        filter.repository = "repo-5"
        filter.status = "4xx"
        filter.actor = "user-2"
        let matching = try await all(filter)
        var expected = Set<String>()
        for n in 1...900 {
            let event = event(n)
            if event.repository == "repo-5", event.status == 404, event.actor == "user-2" { expected.insert(event.id) }
        }
        #expect(Set(matching.map { $0.id }) == expected)
        #expect(!matching.isEmpty)
        filter = AuditFilter()
        filter.since = baseTime + 100
        filter.until = baseTime + 200
        filter.action = "pull-blob"
        #expect(Set(try await all(filter).map(\.id)) == Set((100..<200).map { "request-\($0)" }))
        for log in logs { log.close() }
        try await database.close()
    }

    @Test("a write's record is committed before recordDurably returns, and a restarted instance continues its chain")
    func durableAndContinued() async throws {
        let database = try Self.database()
        var log = try Self.openLog(database, "node-a")
        try await log.recordDurably(event(1))
        #expect(try await Self.count(database, "SELECT count(*) FROM audit_records WHERE instance = 'node-a'") == 1)
        log.close()
        log = try Self.openLog(database, "node-a")
        try await log.recordDurably(event(2))
        log.close()
        let chains = try await AuditVerifier.verify(database: database)
        #expect(chains.count == 1 && chains[0].result.isIntact && chains[0].result.lastSeq == 2)
        try await database.close()
    }

    @Test("two processes given one instance id still write one unbroken chain")
    func sharedInstanceID() async throws {
        let database = try Self.database()
        let twins = try [Self.openLog(database, "same"), Self.openLog(database, "same")]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, log) in twins.enumerated() {
                group.addTask { try await Self.write(log, (1...200).map { event($0 * 2 + index) }, tasks: 2) }
            }
            try await group.waitForAll()
        }
        let chains = try await AuditVerifier.verify(database: database)
        #expect(chains.count == 1 && chains[0].result.isIntact && chains[0].result.records == 400)
        for log in twins { log.close() }
        try await database.close()
    }

    @Test("verify names the instance and place of an edited record, a removed one, a moved one and a cut tail")
    func tampering() async throws {
        let database = try Self.database()
        for instance in ["node-a", "node-b"] {
            let log = try Self.openLog(database, instance)
            try await Self.write(log, (1...20).map { event($0) }, tasks: 1)
            log.close()
        }
        func problems() async throws -> [String: [String]] {
            var found: [String: [String]] = [:]
            for (instance, result) in try await AuditVerifier.verify(database: database) {
                found[instance] = result.problems.map(\.description)
            }
            return found
        }
        func change(_ sql: String) async throws {
            _ = try await database.write { db in try db.execute(sql) }
        }
        #expect(try await problems() == ["node-a": [], "node-b": []])

        // An edited byte in node-a's record 5: it no longer chains to record 6.
        try await change(
            "UPDATE audit_records SET line = replace(line, '\"status\":', '\"status\":9') WHERE instance = 'node-a' AND seq = 5")
        var found = try await problems()
        #expect(found["node-a"] == ["instance node-a line 6 (record 6): " + Self.unchained(5)])
        #expect(found["node-b"] == [])
        try await change(
            "UPDATE audit_records SET line = replace(line, '\"status\":9', '\"status\":') WHERE instance = 'node-a' AND seq = 5")

        // node-b's record 7 removed.
        try await change("DELETE FROM audit_records WHERE instance = 'node-b' AND seq = 7")
        found = try await problems()
        #expect(found["node-b"]?.count == 2 && found["node-b"]?.allSatisfy { $0.contains("record 8") } == true)

        // node-a's record 3 moved to node-b's chain (its line names node-a and chains there).
        try await change("UPDATE audit_records SET instance = 'node-b', seq = 7 WHERE instance = 'node-a' AND seq = 3")
        found = try await problems()
        #expect(found["node-a"]?.contains { $0.contains("expected record 3 here") } == true)
        #expect(found["node-b"]?.contains { $0.hasSuffix("(record 3): the row is indexed as record 7") } == true)

        // node-a's newest records cut: the head says record 20 was written.
        try await change("DELETE FROM audit_records WHERE instance = 'node-a' AND seq > 17")
        found = try await problems()
        #expect(
            found["node-a"]?.last
                == "instance node-a line 0 (record 17): the log ends at record 17 but record 20 was written: "
                + "records were removed from the end")
        try await database.close()
    }

    static func unchained(_ before: Int) -> String {
        "does not chain to the record before it (record \(before)): one of them was changed, "
            + "or records were removed, inserted or reordered here"
    }

    @Test("retention removes an instance's old records behind a record that anchors the rest of its chain")
    func retention() async throws {
        let database = try Self.database()
        let day: Int64 = 86_400_000
        let now = AuditTime.nowMillis()
        // Written under the default retention (a year); looked at as a 30-day retention would.
        let log = try Self.openLog(database, "node-a")
        let other = try Self.openLog(database, "node-b")
        try await Self.write(
            log, (1...10).map { event($0, time: now - 40 * day) } + (11...15).map { event($0, time: now) }, tasks: 1)
        try await Self.write(other, (1...5).map { event($0, time: now - 40 * day) }, tasks: 1)
        var month = AuditSettings(directory: "/nonexistent")
        month.retentionAge = .seconds(30 * 86_400)
        let retention = try #require(
            try AuditTable(database: database, instance: "node-a", settings: month).retention(now: now))
        #expect(retention.record.detail?.hasPrefix("removed records 1-10 of instance node-a; the chain continues from ") == true)
        try await log.recordDurably(retention.record)
        try retention.remove()
        #expect(try await Self.count(database, "SELECT count(*) FROM audit_records WHERE instance = 'node-a'") == 6)
        #expect(try await Self.count(database, "SELECT count(*) FROM audit_records WHERE instance = 'node-b'") == 5)
        let chains = try await AuditVerifier.verify(database: database)
        let a = try #require(chains.first { $0.instance == "node-a" }?.result)
        #expect(a.isIntact && a.firstSeq == 11 && a.lastSeq == 16)
        #expect(a.notes == ["the log starts at record 11: retention removed the records before it"])
        log.close()
        other.close()
        try await database.close()
    }

    @Test("an instance keeps the id it made on first start")
    func instanceIDIsKept() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-audit-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try AuditTable.instanceID(configured: nil, directory: directory)
        #expect(first.allSatisfy(AuditTable.isInstanceCharacter) && first.count > 9)
        #expect(try AuditTable.instanceID(configured: nil, directory: directory) == first)
        #expect(try AuditTable.instanceID(configured: "wharf-0", directory: directory) == "wharf-0")
    }
}
