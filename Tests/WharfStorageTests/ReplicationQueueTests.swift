import Foundation
import Synchronization
import Testing
import WharfCore

@testable import WharfStorage

/// The replication queue: one queued task per rule and reference, claims under a lease, and bookkeeping written
/// unsynced without leaving the store's later writes unsynced too.
@Suite struct ReplicationQueueTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-queue-\(UUID())").path

    @Test func claimsAndOutcomesLeaveLaterWritesDurable() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let store = try MetadataStore(path: "\(directory)/wharf.db")
        let task = ReplicationTask.New(rule: "r", kind: .copy, repository: "team/app", reference: "v1", digest: nil)
        try await store.queueReplication([task, task])
        #expect(try await store.replicationBacklog(rules: ["r"]).count == 1, "a reference queued twice")

        let claimed = try await store.claimReplicationTasks(limit: 5, lease: 60, rules: ["r"])
        #expect(claimed.map(\.reference) == ["v1"])
        #expect(
            try await store.claimReplicationTasks(limit: 5, lease: 60, rules: ["r"]).isEmpty, "a leased task was claimed again")
        try await store.deferReplicationTask(claimed[0].id, error: "down", bytes: 0, retryAfter: 0)
        let retried = try await store.claimReplicationTasks(limit: 5, lease: 60, rules: ["r"])
        #expect(retried.map(\.attempts) == [1])
        try await store.finishReplicationTasks([.init(id: retried[0].id, bytes: 7)])
        #expect(try await store.replicationTasks(rule: "r", state: .done, before: nil, limit: 10).map(\.bytes) == [7])

        // A task handed back untried while a newer one for its reference was queued: one stays queued.
        let again = ReplicationTask.New(rule: "r", kind: .copy, repository: "team/app", reference: "v3", digest: nil)
        try await store.queueReplication([again])
        let held = try await store.claimReplicationTasks(limit: 5, lease: 60, rules: ["r"])
        try await store.queueReplication([again])
        try await store.releaseReplicationTasks(held.map(\.id))
        #expect(try await store.replicationBacklog(rules: ["r"]).count == 1)
        _ = try await store.claimReplicationTasks(limit: 5, lease: 60, rules: ["r"])

        // A rule left out (its remote is down) is neither claimed nor counted; a rule removed fails its tasks.
        let other = ReplicationTask.New(rule: "down", kind: .copy, repository: "team/app", reference: "v2", digest: nil)
        try await store.queueReplication([other])
        #expect(try await store.claimReplicationTasks(limit: 5, lease: 60, rules: ["r"]).isEmpty)
        #expect(try await store.replicationBacklog(rules: ["r"]).count == 0)
        try await store.failReplicationTasks(ofRulesOtherThan: ["r"])
        #expect(try await store.replicationTasks(rule: "down", state: .failed, before: nil, limit: 10).count == 1)

        // A bookkeeping write that failed leaves the writer usable, at the level every commit runs at (NORMAL: durable
        // writes then wait for a sync of the WAL, see `GroupSync`).
        await #expect(throws: (any Error).self) {
            try await store.writeUnsynced { db in try db.execute("UPDATE no_such_table SET x = 1") }
        }
        let level: Int? = try await store.database.write { db in try db.value("PRAGMA synchronous") }
        #expect(level == 1)
    }

    /// Reading a closure out of a `Mutex` through `inout` wrapped it in two more reabstraction thunks each time, so
    /// every push called its planner through two more frames than the one before, until the stack overflowed.
    @Test func theOutboxPlannerIsCalledAtTheSameDepthEveryTime() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = try openRegistry(directory, encrypted: false)
        let depths = Mutex<[Int]>([])
        registry.setOutbox { _ in
            depths.withLock { $0.append(Thread.callStackReturnAddresses.count) }
            return []
        }
        let change = RegistryChange(
            repository: try RepositoryName("team/app"), kind: .manifestDeleted(digest: .of([1])), origin: nil)
        for _ in 0..<1000 { _ = registry.outbox(origin: nil)!.plan(change) }
        let seen = depths.withLock { $0 }
        #expect(seen.count == 1000 && Set(seen).count == 1, "depths from \(seen.first ?? 0) to \(seen.last ?? 0)")
    }
}
