import Foundation
import WharfStorage

/// The log of one instance of a cluster, in PostgreSQL beside the metadata (`wharf migrate` makes the tables): each
/// instance appends its own hash-chained records to `audit_records` under its instance id, and `audit_heads` holds
/// each chain's newest record. Queries, `verify` and `export` cover every instance's chain.
///
/// An append reads its chain's head `FOR UPDATE`, so two processes given one instance id still write one unbroken
/// chain. A write's record is committed with the database's durable commit before its response is sent.
package final class AuditTable: AuditStorage {
    let database: any SQLDatabase
    let instance: String
    private let retentionAge: Duration?
    var retentionDue: Bool { false }

    init(database: any SQLDatabase, instance: String, settings: AuditSettings) {
        self.database = database
        self.instance = instance
        retentionAge = settings.retentionAge
    }

    /// Rows per INSERT: few statement shapes, and far from PostgreSQL's limit of bound values.
    private static let rowsPerInsert = 100

    func append(_ records: AuditBatch, whenDurable: () -> Void) throws -> [ArraySlice<UInt8>] {
        let lines = try database.writeNow { db in
            // The head row exists before it is locked: two first appends would otherwise both find none.
            try db.execute(
                "INSERT INTO audit_heads(instance, seq, hash) VALUES (?, 0, ?) ON CONFLICT DO NOTHING",
                [instance, AuditLine.genesis])
            let head = try db.row("SELECT seq, hash FROM audit_heads WHERE instance = ? FOR UPDATE", [instance])
            var seq = UInt64(head.map { $0["seq"] as Int64 } ?? 0)
            var hash = head.map { $0["hash"] as String } ?? AuditLine.genesis
            var buffer: [UInt8] = []
            buffer.reserveCapacity(records.bytes.count + records.count * 96)
            var ranges: [Range<Int>] = []
            for index in records.entries.indices {
                let start = buffer.count
                seq += 1
                AuditLine.encodeHeader(seq: seq, prev: hash, instance: instance, into: &buffer)
                buffer.append(contentsOf: records.body(index))
                hash = AuditLine.hash(buffer[start...])
                ranges.append(start..<buffer.count)
            }
            let first = seq - UInt64(records.count)
            for chunk in stride(from: 0, to: records.count, by: Self.rowsPerInsert) {
                let rows = chunk..<min(chunk + Self.rowsPerInsert, records.count)
                var arguments: SQLArguments = []
                for index in rows {
                    let entry = records.entries[index]
                    arguments += [
                        instance, Int64(first) + Int64(index) + 1, entry.time, entry.actor, entry.action, entry.repository,
                        entry.status, String(decoding: buffer[ranges[index]], as: UTF8.self),
                    ]
                }
                try db.execute(
                    "INSERT INTO audit_records(instance, seq, time, actor, action, repository, status, line) VALUES "
                        + Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?)", count: rows.count).joined(separator: ", "),
                    arguments)
            }
            try db.execute("UPDATE audit_heads SET seq = ?, hash = ? WHERE instance = ?", [Int64(seq), hash, instance])
            return ranges.map { buffer[$0] }
        }
        whenDurable()
        return lines
    }

    func whenIndexed(_ body: @escaping @Sendable () -> Void) { body() }  // a row is its own index entry

    /// Records of this instance older than the retention age; the newest of them anchors the chain that goes on.
    func retention(now: Int64) throws -> AuditRetention? {
        guard let age = retentionAge else { return nil }
        let expired = try database.writeNow { db in
            try db.row(
                """
                SELECT (SELECT min(seq) FROM audit_records WHERE instance = ?1) AS first, seq, line FROM audit_records
                WHERE instance = ?1 AND seq = (SELECT max(seq) FROM audit_records WHERE instance = ?1 AND time < ?2)
                """, [instance, now - age.milliseconds])
        }
        guard let expired else { return nil }
        let last: Int64 = expired["seq"]
        let anchor = AuditLine.hash(Array((expired["line"] as String).utf8)[...])
        let record = AuditEvent.system(
            .retention,
            "removed records \(expired["first"] as Int64)-\(last) of instance \(instance); the chain continues from \(anchor)")
        return AuditRetention(record: record) { [database, instance] in
            _ = try database.writeNow { db in
                try db.execute("DELETE FROM audit_records WHERE instance = ? AND seq <= ?", [instance, last])
            }
        }
    }

    func page(_ filter: AuditFilter) async throws -> AuditPage {
        let limit = min(max(filter.limit, 1), AuditFilter.maxLimit)
        var conditions: [String] = []
        var arguments: SQLArguments = []
        func add(_ condition: String, _ value: (any SQLBindable)?) {
            guard let value else { return }
            conditions.append(condition)
            arguments.append(value)
        }
        add("repository = ?", filter.repository)
        add("actor = ?", filter.actor)
        add("action = ?", filter.action)
        add("status >= ?", filter.statusRange?.lowerBound)
        add("status <= ?", filter.statusRange?.upperBound)
        add("time >= ?", filter.since)
        add("time < ?", filter.until)
        // Newest first by the time the requests came, whichever instance served them; the cursor is the last row's id.
        if let cursor = filter.cursor.map({ Int64(clamping: $0) }) {
            conditions.append("(time, id) < ((SELECT time FROM audit_records WHERE id = ?), ?)")
            arguments += [cursor, cursor]
        }
        let sql =
            "SELECT id, line FROM audit_records" + (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND "))
            + " ORDER BY time DESC, id DESC LIMIT ?"
        let rows = try await database.read { [arguments] db in try db.rows(sql, arguments + [limit + 1]) }
        let page = rows.prefix(limit)
        return AuditPage(
            lines: page.map { Array(($0["line"] as String).utf8) },
            next: rows.count > limit ? page.last.map { UInt64($0["id"] as Int64) } : nil)
    }
}

extension AuditTable {
    /// Calls `body` with each stored line of every instance whose time is in [since, until), in the order they were
    /// stored, a page at a time.
    package static func forEachLine(
        database: any SQLDatabase, since: Int64?, until: Int64?, _ body: (ArraySlice<UInt8>) throws -> Void
    ) async throws {
        var after: Int64 = 0
        while true {
            let rows = try await database.read { [after] db in
                try db.rows(
                    "SELECT id, line FROM audit_records WHERE id > ? AND time >= ? AND time < ? ORDER BY id LIMIT 5000",
                    [after, since ?? .min, until ?? .max])
            }
            for row in rows { try body(Array((row["line"] as String).utf8)[...]) }
            guard let last = rows.last, rows.count == 5000 else { return }
            after = last["id"]
        }
    }

    /// Instance ids are made of these, so that a record's time is found past its instance without parsing the line.
    package static func isInstanceCharacter(_ character: Character) -> Bool {
        character.isASCII && (character.isLetter || character.isNumber || "._-".contains(character))
    }

    /// The instance id this server's chain is written under: `configured`, or one made on first start
    /// (`<host name>-<random>`) and kept in `directory/instance`, so that a restart continues its chain.
    package static func instanceID(configured: String?, directory: String) throws -> String {
        if let configured { return configured }
        let path = directory + "/instance"
        if let kept = try? String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
            !kept.isEmpty
        {
            return kept
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let host = ProcessInfo.processInfo.hostName.filter(isInstanceCharacter).prefix(100)
        let id = host + "-" + UUID().uuidString.prefix(8).lowercased()
        try Data(id.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        return id
    }
}
