import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization
import WharfCore

/// Where the shared metadata database is.
package struct PostgreSQLSettings: Sendable {
    package var host: String
    package var port: Int
    package var database: String
    package var user: String
    package var password: String?
    package var tls: TLSMode
    /// A PEM file of the certificate authorities to trust (with TLS); nil for the system's.
    package var caFile: String?
    /// Connections held open, which is also how many transactions run at once.
    package var connections: Int

    package enum TLSMode: String, Sendable {
        case disable
        case prefer
        case require
    }

    package init(
        host: String, port: Int = 5432, database: String, user: String, password: String? = nil, tls: TLSMode = .disable,
        caFile: String? = nil, connections: Int = 8
    ) {
        self.host = host
        self.port = port
        self.database = database
        self.user = user
        self.password = password
        self.tls = tls
        self.caFile = caFile
        self.connections = connections
    }
}

/// The metadata database of a cluster: PostgreSQL, with a pool of connections, each used by one body at a time on a
/// thread of the pool's own (the bodies are synchronous, and must not block the event loops or Swift's cooperative
/// threads).
///
/// Writes run SERIALIZABLE, so that the transactions written for SQLite (whose one writer serializes them) keep their
/// meaning, and are run again after a serialization failure or a deadlock. A connection that breaks is dropped with
/// the idle ones (a restarted server breaks them all) and the body is run again on a new one, unless its COMMIT was
/// sent (whether it landed is then unknown: the client is told the database is unavailable, and retries). While no
/// connection can be made, every call fails at once with a 503; the next call after the server is back connects.
package final class PostgreSQLDatabase: SQLDatabase {
    package var dialect: SQLDialect { .postgres }
    private let configuration: PostgresConnection.Configuration
    private let threads: NIOThreadPool
    private let idle = Mutex<[PostgresConnection]>([])
    private let connectionIDs = Atomic<Int>(0)
    /// SQL with `?` placeholders, as PostgreSQL's `$n`.
    private let translations = Mutex<[String: String]>([:])
    let logger: Logger

    package init(settings: PostgreSQLSettings, logger: Logger) throws {
        var tls = PostgresConnection.Configuration.TLS.disable
        if settings.tls != .disable {
            var trust = TLSConfiguration.makeClientConfiguration()
            if let caFile = settings.caFile { trust.trustRoots = .file(caFile) }
            let context = try NIOSSLContext(configuration: trust)
            tls = settings.tls == .require ? .require(context) : .prefer(context)
        }
        var configuration = PostgresConnection.Configuration(
            host: settings.host, port: settings.port, username: settings.user, password: settings.password,
            database: settings.database, tls: tls)
        configuration.options.connectTimeout = .seconds(5)
        configuration.options.additionalStartupParameters = [("application_name", "wharf")]
        self.configuration = configuration
        self.logger = logger
        threads = NIOThreadPool(numberOfThreads: max(1, settings.connections))
        threads.start()
    }

    package func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) throws -> T) async throws -> T {
        try await threads.runIfActive { try self.run(transaction: nil, body) }
    }

    package func write<T: Sendable>(durable: Bool, _ body: @escaping @Sendable (any SQLSession) throws -> T)
        async throws -> T
    {
        try await threads.runIfActive { try self.run(transaction: durable, body) }
    }

    package func writeNow<T>(_ body: (any SQLSession) throws -> T) throws -> T {
        try run(transaction: true, body)
    }

    package func close() async throws {
        for connection in idle.withLock({ idle in
            defer { idle.removeAll() }; return idle
        }) {
            try? await connection.close()
        }
        try await threads.shutdownGracefully()
    }

    /// A store dropped without `close()` (one that failed to open): its connections and threads end on their own.
    deinit {
        for connection in idle.withLock({ $0 }) {
            connection.close().whenComplete { _ in _ = connection }  // held until closed, which its deinit demands
        }
        threads.shutdownGracefully { _ in }
    }

    /// Runs `body` on a pooled connection: in a transaction (`durable` or not), or with none for a read.
    private func run<T>(transaction durable: Bool?, _ body: (any SQLSession) throws -> T) throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            let connection = try checkOut()
            let session = PostgreSQLSession(connection: connection, database: self)
            do {
                let value = try durable.map { try transaction(session, durable: $0, body) } ?? body(session)
                checkIn(connection)
                return value
            } catch {
                let broken = Self.isBroken(error)
                if broken { drop(connection) } else { checkIn(connection) }
                if broken, !session.commitSent, attempt < 3 { continue }
                if Self.isConflict(error), attempt < 30 {
                    Thread.sleep(forTimeInterval: Double.random(in: 0.001...0.005) * Double(attempt))
                    continue
                }
                throw broken ? Self.unavailable(error) : error
            }
        }
    }

    private func transaction<T>(_ session: PostgreSQLSession, durable: Bool, _ body: (any SQLSession) throws -> T)
        throws -> T
    {
        // Sent without waiting for their answers: the body's first statement waits for them.
        session.send("BEGIN ISOLATION LEVEL SERIALIZABLE")
        if !durable { session.send("SET LOCAL synchronous_commit = off") }
        do {
            let value = try body(session)
            session.commitSent = true
            try session.execute("COMMIT")
            return value
        } catch {
            if !session.commitSent { _ = try? session.execute("ROLLBACK") }
            throw error
        }
    }

    /// A connection outside the pool, for session state such as advisory locks; the caller closes it.
    package func dedicatedConnection() async throws -> PostgresConnection {
        // In a task of its own, which the caller's cancellation does not reach: PostgresNIO, cancelled as its
        // handshake ends, may close the connection and still return it (and a query on it would never be answered).
        let id = connectionIDs.add(1, ordering: .relaxed).newValue
        let connect = Task { [configuration, logger] in
            try await PostgresConnection.connect(configuration: configuration, id: id, logger: logger)
        }
        do {
            return try await connect.value
        } catch {
            throw Self.unavailable(error)
        }
    }

    /// Runs `body` holding the advisory lock `key` in a session of its own; nil, without running it, while another
    /// session holds the lock. Work one instance of a cluster at a time may do (key rotation).
    package func whileHolding<T>(lock key: Int64, _ body: () async throws -> T) async throws -> T? {
        let connection = try await dedicatedConnection()
        do {
            var locked = false
            let rows = try await connection.queryIfOpen("SELECT pg_try_advisory_lock(\(unescaped: String(key)))", logger: logger)
            for try await (answer) in rows.decode(Bool.self) { locked = answer }
            let value = locked ? try await body() : nil
            try? await connection.close()  // which lets the lock go
            return value
        } catch {
            try? await connection.close()
            throw error
        }
    }

    private func checkOut() throws -> PostgresConnection {
        // One the server closed (a restart) is dropped: a query sent on it would wait for ever.
        while let connection = idle.withLock({ $0.popLast() }) {
            if !connection.isClosed { return connection }
            connection.close().whenComplete { _ in _ = connection }
        }
        do {
            return try PostgresConnection.connect(
                on: MultiThreadedEventLoopGroup.singleton.any(), configuration: configuration,
                id: connectionIDs.add(1, ordering: .relaxed).newValue, logger: logger
            ).wait()
        } catch {
            throw Self.unavailable(error)
        }
    }

    private func checkIn(_ connection: PostgresConnection) {
        idle.withLock { $0.append(connection) }
    }

    /// Closes a broken connection and the idle ones, which a restarted server has broken as well.
    private func drop(_ connection: PostgresConnection) {
        let stale = idle.withLock { idle in
            defer { idle.removeAll() }; return idle
        }
        for connection in stale + [connection] { connection.close().whenComplete { _ in _ = connection } }
    }

    func translate(_ sql: String) -> String {
        if let known = translations.withLock({ $0[sql] }) { return known }
        let translated = Self.placeholders(sql)
        translations.withLock { $0[sql] = translated }
        return translated
    }

    /// `?` as `$1`, `$2`, … in order, and `?N` as `$N`, outside quoted literals.
    static func placeholders(_ sql: String) -> String {
        var output = ""
        var next = 0
        var quoted = false
        var characters = sql.makeIterator()
        var pending = characters.next()
        while let character = pending {
            pending = characters.next()
            if character == "'" { quoted.toggle() }
            guard character == "?", !quoted else {
                output.append(character)
                continue
            }
            var number = ""
            while let digit = pending, digit.isASCII, digit.isNumber {
                number.append(digit)
                pending = characters.next()
            }
            if number.isEmpty {
                next += 1
                number = String(next)
            }
            output += "$" + number
        }
        return output
    }

    /// No answer from the server: the connection is gone. An error the server sent, or a body's own (a
    /// `RegistryError`, the identity store's), leaves it usable.
    private static func isBroken(_ error: any Error) -> Bool {
        if let error = error as? PSQLError { return error.code != .server }
        return error is ChannelError || error is IOError
    }

    private static func isConflict(_ error: any Error) -> Bool {
        guard let error = error as? PSQLError, let state = error.serverInfo?[.sqlState] else { return false }
        return state == "40001" || state == "40P01"
    }

    static func unavailable(_ error: any Error) -> RegistryError {
        RegistryError(.internalError, status: 503, "the metadata database is unavailable", detail: reason(error))
    }

    /// What went wrong, in PostgreSQL's words when it answered (postgres-nio's own description hides them).
    static func reason(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return "\(error)" }
        if let message = error.serverInfo?[.message] {
            return message + (error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? "")
        }
        return "\(error.code)" + (error.underlying.map { ": \($0)" } ?? "")
    }
}

/// One connection's statements, each waited for on the pool's thread.
private final class PostgreSQLSession: SQLSession {
    let connection: PostgresConnection
    let database: PostgreSQLDatabase
    var commitSent = false
    /// Statements sent and not waited for yet.
    private var sent: [EventLoopFuture<PostgresQueryResult>] = []
    var dialect: SQLDialect { .postgres }

    init(connection: PostgresConnection, database: PostgreSQLDatabase) {
        self.connection = connection
        self.database = database
    }

    func send(_ sql: String) {
        sent.append(connection.query(PostgresQuery(unsafeSQL: sql), logger: database.logger))
    }

    func execute(_ sql: String, _ arguments: SQLArguments) throws -> Int {
        try query(sql, arguments).metadata.rows ?? 0
    }

    func rows(_ sql: String, _ arguments: SQLArguments) throws -> [SQLRow] {
        let result = try query(sql, arguments)
        guard let first = result.rows.first else { return [] }
        let columns = first.map(\.columnName)
        return try result.rows.map { row in SQLRow(columns: columns, values: try row.map(Self.value)) }
    }

    private func query(_ sql: String, _ arguments: SQLArguments) throws -> PostgresQueryResult {
        var binds = PostgresBindings(capacity: arguments.count)
        for argument in arguments {
            switch argument?.sqlValue ?? .null {
            case .null: binds.appendNull()
            case .integer(let value): binds.append(value)
            case .double(let value): binds.append(value)
            case .text(let value):
                // PostgreSQL's text cannot hold one: say so, rather than fail as if the database were broken.
                guard !value.utf8.contains(0) else {
                    throw RegistryError(
                        .unsupported, status: 400, "a value holds a NUL character", detail: String(value.prefix(50)))
                }
                binds.append(value)
            case .bool(let value): binds.append(value)
            }
        }
        let answer = connection.query(
            PostgresQuery(unsafeSQL: database.translate(sql), binds: binds), logger: database.logger)
        let earlier = sent
        sent = []
        for statement in earlier { _ = try statement.wait() }
        return try answer.wait()
    }

    private static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8: return .integer(try cell.decode(Int64.self))
        case .float4, .float8: return .double(try cell.decode(Double.self))
        case .bool: return .bool(try cell.decode(Bool.self))
        case .numeric:
            // A sum or an average: whole numbers read as integers.
            let number = NSDecimalNumber(decimal: try cell.decode(Decimal.self))
            let whole = number.int64Value
            return NSDecimalNumber(value: whole) == number ? .integer(whole) : .double(number.doubleValue)
        default: return .text(try cell.decode(String.self))
        }
    }
}

extension PostgresConnection {
    /// `query`, failing at once on a closed connection: PostgresNIO drops a write to one without failing the query,
    /// which would then wait for ever.
    @discardableResult
    package func queryIfOpen(_ query: PostgresQuery, logger: Logger) async throws -> PostgresRowSequence {
        guard !isClosed else { throw ChannelError.ioOnClosedChannel }
        return try await self.query(query, logger: logger)
    }
}
