import Foundation
import WharfCore

/// The replication task queue in the metadata store. A change records its tasks in the outbox, inside its own
/// transaction; workers move them into the queue and claim them under a lease (a worker that dies lets its lease run
/// out, and the task is claimed again). Only the outbox is durable; the moves, claims and outcomes after it are
/// bookkeeping whose loss costs a repeated copy, so they are written unsynced and do not hold the pushes that share
/// the writer up behind an fsync each.
extension MetadataStore {
    /// Records `tasks` in the outbox, in the current transaction (the change's). One row per rule and reference: a
    /// copy resolves its tag when it runs, so one copy catches up with any number of pushes.
    func queue(_ tasks: [ReplicationTask.New], _ db: any SQLSession, sourceTime: Double) throws {
        for task in tasks {
            try db.execute(
                """
                INSERT INTO replication_outbox(rule, kind, repository, reference, digest, source_time)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(rule, kind, repository, reference) DO UPDATE SET digest = excluded.digest
                """, [task.rule, task.kind.rawValue, task.repository, task.reference, task.digest, sourceTime])
        }
    }

    /// Queues tasks outside any change (reconcile, a manual run).
    package func queueReplication(_ tasks: [ReplicationTask.New], sourceTime: Double? = nil) async throws {
        guard !tasks.isEmpty else { return }
        let now = Self.now
        try await database.write { db in
            try self.queue(tasks, db, sourceTime: sourceTime ?? now)
            try self.moveOutbox(db)
        }
    }

    /// Whether changes have recorded tasks that are not in the queue yet.
    package func hasReplicationOutbox() async throws -> Bool {
        try await database.read { db in try db.value("SELECT EXISTS (SELECT 1 FROM replication_outbox)") ?? false }
    }

    /// Moves the outbox's tasks into the queue (where one is queued for the same reference already, it stays one).
    package func drainReplicationOutbox() async throws {
        try await writeUnsynced { db in try self.moveOutbox(db) }
    }

    private func moveOutbox(_ db: any SQLSession) throws {
        try db.execute(
            """
            INSERT INTO replication_tasks(rule, kind, repository, reference, digest, state, not_before, source_time,
                created_at, updated_at)
            SELECT rule, kind, repository, reference, digest, 'queued', source_time, source_time, source_time,
                source_time FROM replication_outbox WHERE true
            ON CONFLICT(rule, kind, repository, reference) WHERE state = 'queued' DO UPDATE SET digest = excluded.digest
            """)
        try db.execute("DELETE FROM replication_outbox")
    }

    /// Whether any task of `rules` is due: a read, so that idle workers polling for work do not take the write lock.
    package func hasDueReplicationTasks(rules: [String]) async throws -> Bool {
        guard !rules.isEmpty else { return false }
        let now = Self.now
        return try await database.read { db in
            for rule in rules {
                // Along the index, one rule at a time: the backlog of a rule left out is never walked.
                if try db.value(
                    """
                    SELECT EXISTS (SELECT 1 FROM replication_tasks WHERE state = 'queued' AND rule = ? AND not_before <= ?)
                        OR EXISTS (SELECT 1 FROM replication_tasks WHERE state = 'running' AND lease_until < ? AND rule = ?)
                    """, [rule, now, now, rule]) == true
                {
                    return true
                }
            }
            return false
        }
    }

    /// Takes up to `limit` due tasks of `rules`, soonest due first, for `lease` seconds: queued ones, and running ones
    /// whose worker let its lease run out (it died).
    package func claimReplicationTasks(limit: Int, lease: Double, rules: [String]) async throws -> [ReplicationTask] {
        guard !rules.isEmpty else { return [] }
        let now = Self.now
        return try await writeUnsynced { db in
            var due = [(id: Int64, at: Double)]()
            for rule in rules {
                for row in try db.rows(
                    """
                    SELECT id, not_before FROM replication_tasks WHERE state = 'queued' AND rule = ? AND not_before <= ?
                        ORDER BY not_before LIMIT ?
                    """, [rule, now, limit])
                { due.append((row[0], row[1])) }
                for row in try db.rows(
                    """
                    SELECT id, lease_until FROM replication_tasks WHERE state = 'running' AND lease_until < ? AND rule = ?
                        ORDER BY lease_until LIMIT ?
                    """, [now, rule, limit])
                { due.append((row[0], row[1])) }
            }
            let ids = due.sorted { $0.at < $1.at }.prefix(limit).map(\.id)
            guard !ids.isEmpty else { return [] }
            let list = sqlList(ids)
            let rows = try db.rows(
                "UPDATE replication_tasks SET state = 'running', lease_until = ?, updated_at = ? WHERE id IN \(list.marks) "
                    + "RETURNING *", [now + lease, now] + list.arguments)
            return try rows.map(Self.task).sorted { $0.id < $1.id }
        }
    }

    /// Fails the queued tasks of rules not in `rules` (a rule removed), so that they neither wait nor count forever.
    package func failReplicationTasks(ofRulesOtherThan rules: Set<String>) async throws {
        let now = Self.now
        try await writeUnsynced { db in
            try self.moveOutbox(db)
            let kept = rules.isEmpty ? nil : sqlList(rules.sorted())
            try db.execute(
                "UPDATE replication_tasks SET state = 'failed', lease_until = NULL, updated_at = ?, "
                    + "error = 'the rule no longer exists' WHERE state IN ('queued', 'running')"
                    + (kept.map { " AND rule NOT IN \($0.marks)" } ?? ""), [now] + (kept?.arguments ?? []))
        }
    }

    /// Hands claimed tasks back untried (their rule's remote went down meanwhile): no attempt counted. One that a
    /// newer task for the same reference was queued behind meanwhile is dropped: that one copies what there is.
    package func releaseReplicationTasks(_ ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        try await writeUnsynced { db in
            try self.dropSuperseded(ids, db)
            let list = sqlList(ids)
            try db.execute(
                "UPDATE replication_tasks SET state = 'queued', lease_until = NULL WHERE state = 'running' AND id IN "
                    + list.marks, list.arguments)
        }
    }

    /// Deletes those of `ids` that a newer task for the same rule and reference is queued behind (the unique index
    /// allows one queued task per reference, and that one copies what there is); returns whether any was.
    @discardableResult
    private func dropSuperseded(_ ids: [Int64], _ db: any SQLSession) throws -> Bool {
        let list = sqlList(ids)
        return try db.execute(
            """
            DELETE FROM replication_tasks AS t WHERE t.id IN \(list.marks) AND EXISTS (
                SELECT 1 FROM replication_tasks q WHERE q.state = 'queued' AND q.rule = t.rule AND q.kind = t.kind
                AND q.repository = t.repository AND q.reference = t.reference)
            """, list.arguments) > 0
    }

    /// Extends the lease of tasks still being worked on.
    package func renewReplicationLeases(_ ids: [Int64], lease: Double) async throws {
        guard !ids.isEmpty else { return }
        let until = Self.now + lease
        try await writeUnsynced { db in
            let list = sqlList(ids)
            try db.execute(
                "UPDATE replication_tasks SET lease_until = ? WHERE state = 'running' AND id IN \(list.marks)",
                [until] + list.arguments)
        }
    }

    /// A task that succeeded: its id, the bytes it copied, and when it ended (lag is measured to then).
    package struct Finished: Sendable {
        package let id: Int64
        package let bytes: Int64
        package let at: Double

        package init(id: Int64, bytes: Int64, at: Double = Date().timeIntervalSince1970) {
            self.id = id
            self.bytes = bytes
            self.at = at
        }
    }

    /// Records tasks that succeeded, in one write.
    package func finishReplicationTasks(_ tasks: [Finished]) async throws {
        guard !tasks.isEmpty else { return }
        try await writeUnsynced { db in
            for task in tasks {
                try db.execute(
                    """
                    UPDATE replication_tasks SET state = 'done', lease_until = NULL, error = NULL, resume = NULL,
                        bytes = bytes + ?, updated_at = ? WHERE id = ?
                    """, [task.bytes, task.at, task.id])
            }
        }
    }

    /// Puts a task back for another attempt after `delay` seconds, or fails it for good (`retry: false`). A task
    /// that a newer one for the same reference has meanwhile been queued behind is dropped instead: that one will copy
    /// what there is by then.
    package func deferReplicationTask(_ id: Int64, error: String, bytes: Int64, retryAfter delay: Double?) async throws {
        let now = Self.now
        try await writeUnsynced { db in
            if delay != nil, try self.dropSuperseded([id], db) { return }
            try db.execute(
                """
                UPDATE replication_tasks SET state = ?, attempts = attempts + 1, not_before = ?, lease_until = NULL,
                    error = ?, bytes = bytes + ?, updated_at = ? WHERE id = ?
                """, [delay == nil ? "failed" : "queued", now + (delay ?? 0), String(error.prefix(1000)), bytes, now, id])
        }
    }

    /// Remembers where a blob copy stands (nil: none under way).
    package func saveReplicationProgress(_ id: Int64, _ progress: BlobCopyProgress?) async throws {
        let json = try progress.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        try await writeUnsynced { db in
            try db.execute("UPDATE replication_tasks SET resume = ? WHERE id = ?", [json, id])
        }
    }

    /// Tasks newest first, after `before` (an id), filtered by rule and state.
    package func replicationTasks(rule: String?, state: ReplicationTask.State?, before: Int64?, limit: Int)
        async throws -> [ReplicationTask]
    {
        try await database.read { db in
            var conditions = ["id < ?"]
            var arguments: SQLArguments = [before ?? .max]
            if let rule {
                conditions.append("rule = ?")
                arguments.append(rule)
            }
            if let state {
                conditions.append("state = ?")
                arguments.append(state.rawValue)
            }
            return try db.rows(
                "SELECT * FROM replication_tasks WHERE \(conditions.joined(separator: " AND ")) ORDER BY id DESC LIMIT ?",
                arguments + [limit]
            ).map(Self.task)
        }
    }

    /// Per rule: how many tasks are in each state, the bytes copied, the newest success, and the lag (commit on the
    /// source to the copy's end, seconds) of the tasks done since `since`.
    package func replicationSummary(since: Double) async throws -> [String: ReplicationSummary] {
        try await database.read { db in
            var summaries = [String: ReplicationSummary]()
            for row in try db.rows(
                "SELECT rule, state, count(*), CAST(coalesce(sum(bytes), 0) AS BIGINT) FROM replication_tasks GROUP BY rule, state"
            ) {
                let rule: String = row[0]
                let state = ReplicationTask.State(rawValue: row[1]) ?? .failed
                summaries[rule, default: .init()].counts[state] = row[2]
                summaries[rule, default: .init()].bytes += row[3] as Int64
            }
            // Not moved into the queue yet, but queued all the same.
            for row in try db.rows("SELECT rule, count(*) FROM replication_outbox GROUP BY rule") {
                summaries[row[0] as String, default: .init()].counts[.queued, default: 0] += row[1] as Int
            }
            for row in try db.rows("SELECT rule, max(updated_at) FROM replication_tasks WHERE state = 'done' GROUP BY rule") {
                summaries[row[0] as String, default: .init()].lastSuccess = row[1]
            }
            for row in try db.rows(
                """
                SELECT rule, updated_at - source_time FROM replication_tasks
                WHERE state = 'done' AND kind = 'copy' AND updated_at >= ? ORDER BY 2
                """, [since])
            {
                summaries[row[0] as String, default: .init()].lags.append(row[1])
            }
            return summaries
        }
    }

    /// How many tasks of `rules` are queued, and when the oldest of them was committed on the source.
    package func replicationBacklog(rules: [String]) async throws -> (count: Int, oldest: Double?) {
        guard !rules.isEmpty else { return (0, nil) }
        return try await database.read { db in
            let list = sqlList(rules)
            let row = try db.row(
                """
                SELECT count(*), min(source_time) FROM (
                    SELECT source_time FROM replication_tasks WHERE state = 'queued' AND rule IN \(list.marks)
                    UNION ALL SELECT source_time FROM replication_outbox WHERE rule IN \(list.marks)) AS queued
                """, list.arguments + list.arguments)
            return (row?[0] ?? 0, row?[1])
        }
    }

    /// Forgets finished tasks older than `cutoff` (seconds since 1970).
    package func pruneReplicationTasks(before cutoff: Double) async throws {
        try await writeUnsynced { db in
            try db.execute("DELETE FROM replication_tasks WHERE state = 'done' AND updated_at < ?", [cutoff])
        }
    }

    /// This store's identity (made when the store was created).
    package func instanceID() async throws -> String {
        try await database.read { db in try db.value("SELECT id FROM instance") ?? "" }
    }

    private static func task(_ row: SQLRow) throws -> ReplicationTask {
        let resume: String? = row["resume"]
        return ReplicationTask(
            id: row["id"], rule: row["rule"], kind: ReplicationTask.Kind(rawValue: row["kind"]) ?? .copy,
            repository: row["repository"], reference: row["reference"], digest: row["digest"],
            state: ReplicationTask.State(rawValue: row["state"]) ?? .failed, attempts: row["attempts"],
            sourceTime: row["source_time"], createdAt: row["created_at"], updatedAt: row["updated_at"],
            error: row["error"], bytes: row["bytes"],
            resume: try resume.map { try JSONDecoder().decode(BlobCopyProgress.self, from: Data($0.utf8)) })
    }
}

/// A rule's queue at a glance.
package struct ReplicationSummary: Sendable {
    package var counts: [ReplicationTask.State: Int] = [:]
    package var bytes: Int64 = 0
    package var lastSuccess: Double?
    /// Lags of the copies done in the window, ascending.
    package var lags: [Double] = []

    package init() {}
}

/// A replication rule made through the API, as stored: its definition (JSON, without the password) and the
/// password sealed by `Registry.sealSecret`.
package struct StoredReplicationRule: Sendable {
    package let name: String
    package let definition: String
    package let secret: String?
}

extension MetadataStore {
    package func storedReplicationRules() async throws -> [StoredReplicationRule] {
        try await database.read { db in
            try db.rows("SELECT name, definition, secret FROM replication_rules ORDER BY created_at, name").map {
                StoredReplicationRule(name: $0[0], definition: $0[1], secret: $0[2])
            }
        }
    }

    /// Creates or replaces a rule.
    package func saveReplicationRule(name: String, definition: String, secret: String?) async throws {
        let now = Self.now
        try await database.write { db in
            try db.execute(
                """
                INSERT INTO replication_rules(name, definition, secret, created_at, updated_at) VALUES (?, ?, ?, ?, ?)
                ON CONFLICT(name) DO UPDATE SET definition = excluded.definition, secret = excluded.secret,
                    updated_at = excluded.updated_at
                """, [name, definition, secret, now, now])
        }
    }

    /// False when there was no such rule.
    package func deleteReplicationRule(_ name: String) async throws -> Bool {
        try await database.write { db in
            try db.execute("DELETE FROM replication_rules WHERE name = ?", [name]) > 0
        }
    }
}
