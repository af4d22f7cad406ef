import Foundation
import Synchronization
import Testing

@testable import WharfStorage

/// Durable SQLite writes share syncs of the WAL (group commit), and each still waits for one.
@Suite struct GroupSyncTests {
    @Test func concurrentDurableWritesShareSyncsAndEachReturnsCommitted() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("group-sync-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try SQLiteDatabase(path: directory.path + "/metadata.db", migrator: MetadataSchema.migrator)
        let writes = 64
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<writes {
                group.addTask {
                    _ = try await database.write(durable: true) { db in
                        try db.execute("INSERT INTO master_keys(id, added_at) VALUES (?, ?)", ["key\(index)", 0.0])
                    }
                }
            }
            try await group.waitForAll()
        }
        let rows: [String] = try await database.read { db in try db.values("SELECT id FROM master_keys") }
        #expect(rows.count == writes)
        let syncs = database.walSync.rounds.load(ordering: .relaxed)
        #expect(syncs >= 1)
        #expect(syncs < writes, "every write synced alone: no group commit")
        // A write that is not durable waits for no sync.
        _ = try await database.write(durable: false) { db in
            try db.execute("INSERT INTO master_keys(id, added_at) VALUES (?, ?)", ["loose", 0.0])
        }
        #expect(database.walSync.rounds.load(ordering: .relaxed) == syncs)
        try await database.close()
    }

    @Test func aDeferredSyncIsMadeWhenItsScopeWaitsForIt() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("group-sync-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let database = try SQLiteDatabase(path: directory.path + "/metadata.db", migrator: MetadataSchema.migrator)
        let deferred = DeferredSync()
        let before = database.walSync.rounds.load(ordering: .relaxed)
        try await DeferredSync.$current.withValue(deferred) {
            _ = try await database.write(durable: true) { db in
                try db.execute("INSERT INTO master_keys(id, added_at) VALUES (?, ?)", ["deferred", 0.0])
            }
        }
        #expect(database.walSync.rounds.load(ordering: .relaxed) == before)
        try await deferred.wait()
        #expect(database.walSync.rounds.load(ordering: .relaxed) == before + 1)
        // Outside a scope, a durable write syncs before it returns.
        _ = try await database.write(durable: true) { db in
            try db.execute("INSERT INTO master_keys(id, added_at) VALUES (?, ?)", ["direct", 0.0])
        }
        #expect(database.walSync.rounds.load(ordering: .relaxed) == before + 2)
        // Two databases written in one scope: each is synced when the scope waits.
        let other = try SQLiteDatabase(path: directory.path + "/other.db", migrator: MetadataSchema.migrator)
        let both = DeferredSync()
        let otherBefore = other.walSync.rounds.load(ordering: .relaxed)
        try await DeferredSync.$current.withValue(both) {
            for (index, target) in [database, other].enumerated() {
                _ = try await target.write(durable: true) { db in
                    try db.execute("INSERT INTO master_keys(id, added_at) VALUES (?, ?)", ["both\(index)", 0.0])
                }
            }
        }
        try await both.wait()
        #expect(database.walSync.rounds.load(ordering: .relaxed) == before + 3)
        #expect(other.walSync.rounds.load(ordering: .relaxed) == otherBefore + 1)
        try await other.close()
        try await database.close()
    }
}
