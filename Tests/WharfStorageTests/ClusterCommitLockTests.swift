import Foundation
import Testing
import WharfTestSupport

@testable import WharfStorage

/// Commits and garbage collection sweeps of two instances sharing a PostgreSQL store (two registries on one
/// database) exclude each other, as those of one instance do. Runs with the metadata on PostgreSQL.
@Suite(.enabled(if: TestMetadata.onPostgres, "the metadata is on SQLite"), .timeLimit(.minutes(1)))
struct ClusterCommitLockTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-cluster-\(UUID())").path

    actor Events {
        var list: [String] = []
        func add(_ event: String) { list.append(event) }
    }

    func withInstances(_ body: (Registry, Registry) async throws -> Void) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (a, b) = (try openRegistry(directory, encrypted: false), try openRegistry(directory, encrypted: false))
        do {
            try await body(a, b)
        } catch {
            try? await a.close()
            try? await b.close()
            throw error
        }
        try await a.close()
        try await b.close()
    }

    @Test func aSweepWaitsForACommitOnAnotherInstanceAndHoldsNewOnesBack() async throws {
        try await withInstances { a, b in
            let events = Events()
            let (committing, commitGoesOn) = AsyncStream<Void>.makeStream()
            let commit = Task {
                try await a.gate.shared {
                    await events.add("commit starts")
                    for await _ in committing { break }
                    await events.add("commit ends")
                }
            }
            while await events.list.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
            let sweep = Task {
                try await b.gate.sweep {
                    await events.add("sweep starts")
                    try await Task.sleep(for: .milliseconds(400))
                    await events.add("sweep ends")
                }
            }
            try await Task.sleep(for: .milliseconds(500))  // long enough for the sweep to start, were it not held
            commitGoesOn.yield()
            try await commit.value
            while !(await events.list.contains("sweep starts")) { try await Task.sleep(for: .milliseconds(10)) }
            try await a.gate.shared { await events.add("next commit") }
            try await sweep.value
            #expect(await events.list == ["commit starts", "commit ends", "sweep starts", "sweep ends", "next commit"])
        }
    }

    @Test func commitsWithoutPauseStillLetASweepOfAnotherInstanceThrough() async throws {
        try await withInstances { a, b in
            let busy = Task {
                // Overlapping commits: at every moment one is in flight on `a`.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<4 {
                        group.addTask {
                            while !Task.isCancelled {
                                try await a.gate.shared { try await Task.sleep(for: .milliseconds(30)) }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            try await Task.sleep(for: .milliseconds(200))
            let events = Events()
            let sweep = Task { try await b.gate.sweep { await events.add("swept") } }
            for _ in 0..<100 where await events.list.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
            #expect(await events.list == ["swept"], "the sweep waited 5 s for a pause in commits")
            busy.cancel()
            _ = await busy.result
            await a.clusterLock?.close()  // were `a` never to let go, the sweep would wait for ever
            try await sweep.value
        }
    }
}
