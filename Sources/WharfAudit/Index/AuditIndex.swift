import GRDB
import GRDBSQLite

/// The query index: one row per record with the fields a query filters on and where its line is. It is built
/// from the segments and can always be rebuilt from them; `head` holds the newest record's hash, which lets
/// `verify` notice records cut from the end of the log.
final class AuditIndex: Sendable {
    struct Row: Sendable {
        let seq: UInt64
        let time: Int64
        let actor: String
        let action: String
        let repository: String?
        let status: Int
        let segment: Int
        let offset: Int64
        let length: Int
    }

    struct Location: Sendable {
        let seq: UInt64
        let segment: Int
        let offset: Int64
        let length: Int
    }

    private let database: DatabasePool

    init(path: String) throws {
        var configuration = Configuration()
        // `wharf audit verify` opens the index while the server writes it.
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // The segments are the durable copy; the index is rebuilt from them after a crash.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        database = try DatabasePool(path: path, configuration: configuration)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE records (
                        seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
                        repository TEXT, status INTEGER NOT NULL,
                        segment INTEGER NOT NULL, offset INTEGER NOT NULL, length INTEGER NOT NULL);
                    CREATE INDEX records_by_repository ON records(repository, seq);
                    CREATE INDEX records_by_actor ON records(actor, seq);
                    CREATE INDEX records_by_action ON records(action, seq);
                    CREATE INDEX records_by_time ON records(time);
                    CREATE TABLE head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL);
                    """)
        }
        try migrator.migrate(database)
    }

    func insert(_ rows: [Row], head: (seq: UInt64, hash: String)) throws {
        try database.write { db in
            // Bound through SQLite's own API: this runs for every request, and GRDB's argument arrays cost more
            // than the insert itself.
            let statement = try db.cachedStatement(sql: "INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
            let handle = statement.sqliteStatement
            for row in rows {
                sqlite3_reset(handle)
                sqlite3_bind_int64(handle, 1, Int64(row.seq))
                sqlite3_bind_int64(handle, 2, row.time)
                Self.bind(handle, 3, row.actor)
                Self.bind(handle, 4, row.action)
                if let repository = row.repository { Self.bind(handle, 5, repository) } else { sqlite3_bind_null(handle, 5) }
                sqlite3_bind_int64(handle, 6, Int64(row.status))
                sqlite3_bind_int64(handle, 7, Int64(row.segment))
                sqlite3_bind_int64(handle, 8, row.offset)
                sqlite3_bind_int64(handle, 9, Int64(row.length))
                let result = sqlite3_step(handle)
                guard result == SQLITE_DONE else {
                    throw DatabaseError(
                        resultCode: ResultCode(rawValue: result), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
                }
            }
            sqlite3_reset(handle)
            try db.execute(sql: "INSERT OR REPLACE INTO head VALUES (1, ?, ?)", arguments: [Int64(head.seq), head.hash])
        }
    }

    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    private static func bind(_ handle: OpaquePointer, _ index: Int32, _ text: String) {
        var text = text
        if text.isEmpty {
            sqlite3_bind_text(handle, index, "", 0, nil)
            return
        }
        text.withUTF8 { bytes in
            _ = bytes.withMemoryRebound(to: CChar.self) {
                sqlite3_bind_text(handle, index, $0.baseAddress, Int32($0.count), transient)
            }
        }
    }

    /// The newest record indexed, and where it is.
    func last() throws -> Location? {
        try database.read { db in
            try SQLRow.fetchOne(db, sql: "SELECT seq, segment, offset, length FROM records ORDER BY seq DESC LIMIT 1")
                .map { Location(seq: UInt64($0[0] as Int64), segment: $0[1], offset: $0[2], length: $0[3]) }
        }
    }

    func head() throws -> (seq: UInt64, hash: String)? {
        try database.read { db in
            try SQLRow.fetchOne(db, sql: "SELECT seq, hash FROM head").map { (UInt64($0[0] as Int64), $0[1] as String) }
        }
    }

    /// Forgets records the log no longer has: those after `seq` (a torn tail) and those in `segments`.
    func remove(after seq: UInt64? = nil, segmentsThrough segment: Int? = nil) throws {
        try database.write { db in
            if let seq { try db.execute(sql: "DELETE FROM records WHERE seq > ?", arguments: [Int64(seq)]) }
            if let segment { try db.execute(sql: "DELETE FROM records WHERE segment <= ?", arguments: [segment]) }
        }
    }

    func count() throws -> Int {
        try database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM records") ?? 0 }
    }

    /// The locations of one page of matching records, newest first, and whether more follow.
    func query(_ filter: AuditFilter) throws -> (locations: [Location], more: Bool) {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        func add(_ condition: String, _ value: (any DatabaseValueConvertible)?) {
            guard let value else { return }
            conditions.append(condition)
            arguments += [value]
        }
        add("repository = ?", filter.repository)
        add("actor = ?", filter.actor)
        add("action = ?", filter.action)
        add("status >= ?", filter.statusRange?.lowerBound)
        add("status <= ?", filter.statusRange?.upperBound)
        add("time >= ?", filter.since)
        add("time < ?", filter.until)
        add("seq < ?", filter.cursor.map { Int64(clamping: $0) })
        let limit = min(max(filter.limit, 1), AuditFilter.maxLimit)
        let sql =
            "SELECT seq, segment, offset, length FROM records"
            + (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND "))
            + " ORDER BY seq DESC LIMIT \(limit + 1)"
        let locations = try database.read { db in
            try SQLRow.fetchAll(db, sql: sql, arguments: arguments).map {
                Location(seq: UInt64($0[0] as Int64), segment: $0[1], offset: $0[2], length: $0[3])
            }
        }
        return (Array(locations.prefix(limit)), locations.count > limit)
    }
}

private typealias SQLRow = GRDB.Row
