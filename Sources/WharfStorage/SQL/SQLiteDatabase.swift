import GRDB

/// The embedded metadata database: one SQLite file in WAL mode. A durable write returns once its transaction is on
/// disk, so that whatever the registry acknowledged survives a crash or power loss; concurrent writes share one sync
/// of the WAL (`GroupSync`).
package final class SQLiteDatabase: SQLDatabase {
    package let pool: DatabasePool
    package var dialect: SQLDialect { .sqlite }
    let walSync: GroupSync

    package init(path: String, migrator: DatabaseMigrator) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.prepareDatabase { db in
            // Commits are not synced one by one: durable writes wait for `walSync` instead.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        walSync = GroupSync(walPath: path + "-wal")
        try migrator.migrate(pool)
        try walSync.syncNow()
    }

    package func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
        try await pool.read { db in try body(SQLiteSession(db: db)) }
    }

    /// Not `durable`: a killed process loses nothing (the WAL is in the page cache); a power cut may lose the latest
    /// such commits, and the next durable write's sync takes them along with its own.
    package func write<T: Sendable>(durable: Bool, _ body: @escaping @Sendable (any SQLSession) throws -> T)
        async throws -> T
    {
        let value = try await pool.write { db in try body(SQLiteSession(db: db)) }
        if durable {
            if let deferred = DeferredSync.current { deferred.leave(walSync) } else { try await walSync.sync() }
        }
        return value
    }

    package func writeNow<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        let value = try pool.write { db in try body(SQLiteSession(db: db)) }
        try walSync.syncNow()
        return value
    }

    package func close() async throws { try pool.close() }
}

private struct SQLiteSession: SQLSession {
    let db: Database
    var dialect: SQLDialect { .sqlite }

    func execute(_ sql: String, _ arguments: SQLArguments) throws -> Int {
        try db.cachedStatement(sql: sql).execute(arguments: Self.arguments(arguments))
        return db.changesCount
    }

    func rows(_ sql: String, _ arguments: SQLArguments) throws -> [SQLRow] {
        // Cached statements: SQLite parses each query once per connection.
        let statement = try db.cachedStatement(sql: sql)
        let columns = statement.columnNames
        return try Row.fetchAll(statement, arguments: Self.arguments(arguments)).map { row in
            SQLRow(columns: columns, values: row.databaseValues.map(Self.value))
        }
    }

    private static func arguments(_ arguments: SQLArguments) -> StatementArguments {
        StatementArguments(
            arguments.map { argument -> (any DatabaseValueConvertible)? in
                switch argument?.sqlValue ?? .null {
                case .null: nil
                case .integer(let value): value
                case .double(let value): value
                case .text(let value): value
                case .bool(let value): value
                }
            })
    }

    private static func value(_ value: DatabaseValue) -> SQLValue {
        switch value.storage {
        case .null: .null
        case .int64(let value): .integer(value)
        case .double(let value): .double(value)
        case .string(let value): .text(value)
        case .blob(let data): .text(String(decoding: data, as: UTF8.self))
        }
    }
}
