import Logging
import PostgresNIO

/// The commit gate across the instances of a cluster, as a PostgreSQL advisory lock: an instance holds it shared
/// while it has commits (on a connection of its own, kept while idle, so commits pay nothing for it), and a sweep
/// holds it exclusively. A watcher looks every 100 ms for a sweep waiting on the lock; the instance then holds new
/// commits back, lets the lock go once those in flight are done, and takes it again behind the sweep.
///
/// If the lock's connection breaks while commits run, their protection ends with it (PostgreSQL releases a session's
/// locks): the same window a restart of the database opens. The grace period still keeps recent blobs.
actor ClusterCommitLock {
    /// The advisory lock's key (one per database).
    static let key: Int64 = 701_153_042  // below 2^31: pg_locks shows it whole in objid
    private static let sql = String(key)
    private let database: PostgreSQLDatabase
    private var connection: PostgresConnection?
    /// Taking or holding the shared lock.
    private var shared: Task<Void, any Error>?
    private var commits = 0
    /// A sweep elsewhere waits: new commits wait until the lock was let go.
    private var yielding = false
    private var heldBack: [CheckedContinuation<Void, Never>] = []
    private var watcher: Task<Void, Never>?

    init(database: PostgreSQLDatabase) {
        self.database = database
    }

    /// Before a commit: returns once this instance holds the lock shared.
    func enter() async throws {
        while yielding { await withCheckedContinuation { heldBack.append($0) } }
        commits += 1
        let attempt = shared ?? Task { try await self.lockShared() }
        shared = attempt
        do {
            try await attempt.value
        } catch {
            commits -= 1
            if shared == attempt { shared = nil }  // not a later attempt, which may hold the lock
            throw PostgreSQLDatabase.unavailable(error)
        }
    }

    func leave() async {
        commits -= 1
        if commits == 0, yielding { await letGo() }
    }

    /// Runs `body` holding the lock exclusively, on a connection of its own that closing releases.
    func exclusive<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        let sweep = try await database.dedicatedConnection()
        if commits == 0, shared != nil {
            yielding = true
            await letGo()  // this instance's own hold, idle (its commits wait for the sweep in CommitGate)
        }
        do {
            try await sweep.queryIfOpen("SELECT pg_advisory_lock(\(unescaped: Self.sql))", logger: database.logger)
            let value = try await body()
            try? await sweep.close()
            return value
        } catch {
            try? await sweep.close()
            throw error
        }
    }

    func close() async {
        watcher?.cancel()
        await watcher?.value
        try? await connection?.close()
        connection = nil
    }

    private func lockShared() async throws {
        if connection == nil || connection!.isClosed { connection = try await database.dedicatedConnection() }
        try await connection!.queryIfOpen("SELECT pg_advisory_lock_shared(\(unescaped: Self.sql))", logger: database.logger)
        if watcher == nil { watcher = Task { await self.watch() } }
    }

    private func watch() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(100))
            guard let connection, shared != nil, !yielding else { continue }
            do {
                let rows = try await connection.queryIfOpen(
                    """
                    SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = \(unescaped: Self.sql) AND objsubid = 1
                        AND NOT granted AND mode = 'ExclusiveLock'
                        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
                    """, logger: database.logger)
                var waiting = 0
                for try await (count) in rows.decode(Int64.self) { waiting = Int(count) }
                guard waiting > 0 else { continue }
                yielding = true
                if commits == 0 { await letGo() }
            } catch {
                // The connection broke, and PostgreSQL let the lock go with it: the next commit takes it again.
                database.logger.warning(
                    "the cluster commit lock's connection broke",
                    metadata: ["error": "\(PostgreSQLDatabase.reason(error))"])
                try? await connection.close()
                self.connection = nil
                shared = nil
            }
        }
    }

    /// Lets the shared lock go (no commit runs here), and lets held-back commits take it again behind the sweep.
    private func letGo() async {
        if let connection {
            do {
                try await connection.queryIfOpen(
                    "SELECT pg_advisory_unlock_shared(\(unescaped: Self.sql))", logger: database.logger)
            } catch {
                try? await connection.close()
                self.connection = nil
            }
        }
        shared = nil
        yielding = false
        for commit in heldBack { commit.resume() }
        heldBack.removeAll()
    }
}
