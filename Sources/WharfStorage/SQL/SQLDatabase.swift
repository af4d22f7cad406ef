/// The SQL the engines disagree on is chosen by this.
package enum SQLDialect: Sendable {
    case sqlite
    case postgres
}

/// A connection inside a transaction (or a read). Statements take `?` placeholders, or `?1` to repeat one.
package protocol SQLSession {
    var dialect: SQLDialect { get }
    /// Runs a statement; returns how many rows it changed.
    @discardableResult func execute(_ sql: String, _ arguments: SQLArguments) throws -> Int
    func rows(_ sql: String, _ arguments: SQLArguments) throws -> [SQLRow]
}

extension SQLSession {
    @discardableResult package func execute(_ sql: String) throws -> Int { try execute(sql, []) }

    package func rows(_ sql: String) throws -> [SQLRow] { try rows(sql, []) }

    package func row(_ sql: String, _ arguments: SQLArguments = []) throws -> SQLRow? { try rows(sql, arguments).first }

    /// The first column of the first row; nil when there is no row.
    package func value<T: SQLDecodable>(_ sql: String, _ arguments: SQLArguments = []) throws -> T? {
        try row(sql, arguments).map { $0[0] }
    }

    /// The first column of every row.
    package func values<T: SQLDecodable>(_ sql: String, _ arguments: SQLArguments = []) throws -> [T] {
        try rows(sql, arguments).map { $0[0] }
    }
}

/// A metadata database: SQLite in the data directory, or PostgreSQL shared by every instance. Bodies are
/// synchronous, as SQLite's are; the PostgreSQL one runs them on threads of its own.
package protocol SQLDatabase: Sendable {
    var dialect: SQLDialect { get }
    /// Reads. On SQLite the body sees one snapshot; on PostgreSQL each statement sees the latest commits (no
    /// transaction costs its round trips on the hot paths), so a body of several may see a commit land between them.
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T
    /// Runs `body` in a transaction, serializable, retried on a conflict (so it must be safe to run again). Not
    /// `durable`: committed without waiting for the disk, for bookkeeping whose loss costs only a repeat.
    func write<T: Sendable>(durable: Bool, _ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T
    /// A durable write from synchronous code (opening the store), which blocks the calling thread.
    func writeNow<T>(_ body: (any SQLSession) throws -> T) throws -> T
    func close() async throws
}

extension SQLDatabase {
    package func write<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
        try await write(durable: true, body)
    }
}

/// `(?, ?, …)` for an IN list, padded to a power of two by repeating the last value: a list's length then takes one
/// of a few statement shapes, which the engines' statement caches can hold. Never empty (`IN ()` is SQLite's only).
package func sqlList(_ values: [any SQLBindable]) -> (marks: String, arguments: SQLArguments) {
    precondition(!values.isEmpty, "an IN list needs a value")
    var size = 1
    while size < values.count { size *= 2 }
    let padded = values + Array(repeating: values.last!, count: size - values.count)
    return ("(" + Array(repeating: "?", count: size).joined(separator: ", ") + ")", padded)
}
