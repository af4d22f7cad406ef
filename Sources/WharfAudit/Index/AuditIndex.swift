import GRDB
import GRDBSQLite

/// The query index: one row per record with the fields a query filters on and where its line is. It is built
/// from the segments and can always be rebuilt from them; `head` holds the newest record's hash, which lets
/// `verify` notice records cut from the end of the log.
///
/// Records are not indexed one by one (four index entries per request cost more than the rest of the audit).
/// Each written batch is a block instead: its seq range, time range and the status classes in it, and one term
/// row per distinct repository, actor and action. A query picks the candidate blocks, newest first, and filters
/// their records exactly by a range scan on seq.
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
        migrator.registerMigration("v2: blocks") { db in
            try db.execute(
                sql: """
                    DROP INDEX records_by_repository;
                    DROP INDEX records_by_actor;
                    DROP INDEX records_by_action;
                    DROP INDEX records_by_time;
                    CREATE TABLE blocks (
                        first INTEGER PRIMARY KEY, last INTEGER NOT NULL, min_time INTEGER NOT NULL,
                        max_time INTEGER NOT NULL, classes INTEGER NOT NULL);
                    CREATE TABLE block_terms (term TEXT NOT NULL, first INTEGER NOT NULL, PRIMARY KEY (term, first))
                        WITHOUT ROWID;
                    INSERT INTO blocks
                        SELECT min(seq), max(seq), min(time), max(time), sum(DISTINCT 1 << (status / 100)) FROM records
                        GROUP BY seq / \(Self.blockSize);
                    INSERT OR IGNORE INTO block_terms
                        SELECT DISTINCT term, b.first FROM blocks b JOIN (
                            SELECT seq, 'r:' || repository AS term FROM records WHERE repository IS NOT NULL
                            UNION ALL SELECT seq, 'a:' || actor FROM records
                            UNION ALL SELECT seq, 'x:' || action FROM records) t ON t.seq BETWEEN b.first AND b.last;
                    """)
        }
        try migrator.migrate(database)
    }

    /// The most records one block covers.
    static let blockSize = 1024

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
            for start in stride(from: 0, to: rows.count, by: Self.blockSize) {
                try Self.insertBlock(rows[start..<min(start + Self.blockSize, rows.count)], db)
            }
            try db.execute(sql: "INSERT OR REPLACE INTO head VALUES (1, ?, ?)", arguments: [Int64(head.seq), head.hash])
        }
    }

    private static func insertBlock(_ rows: ArraySlice<Row>, _ db: Database) throws {
        guard let first = rows.first?.seq, let last = rows.last?.seq else { return }
        var actors = Set<String>()
        var actions = Set<String>()
        var repositories = Set<String>()
        var classes = 0
        var minTime = Int64.max
        var maxTime = Int64.min
        for row in rows {
            actors.insert(row.actor)
            actions.insert(row.action)
            if let repository = row.repository { repositories.insert(repository) }
            classes |= 1 << (row.status / 100)
            minTime = min(minTime, row.time)
            maxTime = max(maxTime, row.time)
        }
        try db.cachedStatement(sql: "INSERT OR REPLACE INTO blocks VALUES (?, ?, ?, ?, ?)").execute(arguments: [
            Int64(first), Int64(last), minTime, maxTime, classes,
        ])
        let term = try db.cachedStatement(sql: "INSERT OR IGNORE INTO block_terms VALUES (?, ?)")
        for (prefix, values) in [("a:", actors), ("x:", actions), ("r:", repositories)] {
            for value in values { try term.execute(arguments: [prefix + value, Int64(first)]) }
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

    /// Forgets records the log no longer has: those after `seq` (a torn tail) and those in `segments`. A block
    /// that keeps some of its records keeps its summary: a superset, which the exact filter then narrows.
    func remove(after seq: UInt64? = nil, segmentsThrough segment: Int? = nil) throws {
        try database.write { db in
            if let seq {
                try db.execute(sql: "DELETE FROM records WHERE seq > ?", arguments: [Int64(seq)])
                try db.execute(sql: "DELETE FROM blocks WHERE first > ?", arguments: [Int64(seq)])
                try db.execute(sql: "UPDATE blocks SET last = ? WHERE last > ?", arguments: [Int64(seq), Int64(seq)])
            }
            if let segment {
                try db.execute(sql: "DELETE FROM records WHERE segment <= ?", arguments: [segment])
                try db.execute(sql: "DELETE FROM blocks WHERE last < coalesce((SELECT min(seq) FROM records), 1 << 62)")
            }
            try db.execute(sql: "DELETE FROM block_terms WHERE first < coalesce((SELECT min(first) FROM blocks), 1 << 62)")
            if let seq { try db.execute(sql: "DELETE FROM block_terms WHERE first > ?", arguments: [Int64(seq)]) }
        }
    }

    func count() throws -> Int {
        try database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM records") ?? 0 }
    }

    /// The locations of one page of matching records, newest first, and whether more follow.
    func query(_ filter: AuditFilter) throws -> (locations: [Location], more: Bool) {
        let limit = min(max(filter.limit, 1), AuditFilter.maxLimit)
        // The blocks that may hold a match, newest first.
        var blockConditions: [String] = []
        var blockArguments: StatementArguments = []
        for term in [filter.repository.map { "r:" + $0 }, filter.actor.map { "a:" + $0 }, filter.action.map { "x:" + $0 }] {
            guard let term else { continue }
            blockConditions.append("EXISTS (SELECT 1 FROM block_terms t WHERE t.term = ? AND t.first = b.first)")
            blockArguments += [term]
        }
        if let range = filter.statusRange {
            let classes = (range.lowerBound / 100...range.upperBound / 100).reduce(0) { $0 | 1 << $1 }
            blockConditions.append("b.classes & ? != 0")
            blockArguments += [classes]
        }
        if let since = filter.since {
            blockConditions.append("b.max_time >= ?")
            blockArguments += [since]
        }
        if let until = filter.until {
            blockConditions.append("b.min_time < ?")
            blockArguments += [until]
        }
        if let cursor = filter.cursor {
            blockConditions.append("b.first < ?")
            blockArguments += [Int64(clamping: cursor)]
        }
        let blockSQL =
            "SELECT first, last FROM blocks b"
            + (blockConditions.isEmpty ? "" : " WHERE " + blockConditions.joined(separator: " AND "))
            + " ORDER BY first DESC"

        // Their records, filtered exactly.
        var conditions = ["seq BETWEEN ? AND ?"]
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
        let recordSQL =
            "SELECT seq, segment, offset, length FROM records WHERE " + conditions.joined(separator: " AND ")
            + " ORDER BY seq DESC LIMIT ?"
        let newest = filter.cursor.map { Int64(clamping: $0) - 1 } ?? .max
        let locations = try database.read { db in
            var found: [Location] = []
            let blocks = try SQLRow.fetchCursor(db, sql: blockSQL, arguments: blockArguments)
            let records = try db.makeStatement(sql: recordSQL)
            while found.count <= limit, let block = try blocks.next() {
                let range: StatementArguments = [block[0] as Int64, min(block[1] as Int64, newest)]
                let rows = try SQLRow.fetchAll(records, arguments: range + arguments + [limit + 1 - found.count])
                found += rows.map { Location(seq: UInt64($0[0] as Int64), segment: $0[1], offset: $0[2], length: $0[3]) }
            }
            return found
        }
        return (Array(locations.prefix(limit)), locations.count > limit)
    }
}

private typealias SQLRow = GRDB.Row
