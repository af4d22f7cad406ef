import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing
import WharfCore
import WharfServer

/// Manifest reads and blob HEADs answered from memory (on SQLite) stay exact: a write is seen by the next read, and a read that
/// races writes answers a digest the tag held at some moment during it, never one older than an answered write.
@Suite struct HotReadTests {
    /// What the writer and the readers of a push storm share.
    final class Storm: Sendable {
        /// The last PUT the writer got its answer to, and the last it began.
        let answered = Atomic<Int>(-1)
        let started = Atomic<Int>(-1)
        let violations = Mutex<[String]>([])
    }

    func get(_ client: any TestClientProtocol, _ path: String, method: HTTPRequest.Method = .get) async throws -> (
        Int, String?
    ) {
        let response = try await client.execute(
            uri: path, method: method, headers: [.accept: "application/vnd.oci.image.manifest.v1+json"])
        return (Int(response.status.code), response.headers[.testDigest])
    }

    @Test func aMovedDeletedOrRepushedTagIsSeenByTheVeryNextRead() async throws {
        try await withRegistry { client, _ in
            let first = digest(try await client.pushImage("hot/app", tag: "v1", layer: "first"))
            for method in [HTTPRequest.Method.get, .head] {
                #expect(try await get(client, "/v2/hot/app/manifests/v1", method: method) == (200, first))
            }
            let second = digest(try await client.pushImage("hot/app", tag: "v1", layer: "second"))
            for method in [HTTPRequest.Method.get, .head] {
                #expect(try await get(client, "/v2/hot/app/manifests/v1", method: method) == (200, second))
            }
            let deleted = try await client.execute(uri: "/v2/hot/app/manifests/v1", method: .delete)
            #expect(deleted.status == .accepted)
            #expect(try await get(client, "/v2/hot/app/manifests/v1").0 == 404)
            #expect(try await get(client, "/v2/hot/app/manifests/v1", method: .head).0 == 404)
            // Pushed again: found again, the first image's digest (which was never deleted) still readable.
            #expect(digest(try await client.pushImage("hot/app", tag: "v1", layer: "first")) == first)
            #expect(try await get(client, "/v2/hot/app/manifests/v1") == (200, first))
            #expect(try await get(client, "/v2/hot/app/manifests/\(second)") == (200, second))

            // A manifest deleted by digest is gone at once, by digest and by every tag that pointed at it.
            #expect(try await get(client, "/v2/hot/app/manifests/\(first)") == (200, first))
            let gone = try await client.execute(uri: "/v2/hot/app/manifests/\(first)", method: .delete)
            #expect(gone.status == .accepted)
            #expect(try await get(client, "/v2/hot/app/manifests/\(first)").0 == 404)
            #expect(try await get(client, "/v2/hot/app/manifests/\(first)", method: .head).0 == 404)
            #expect(try await get(client, "/v2/hot/app/manifests/v1").0 == 404)
            // Another repository's reads were never affected.
            let other = digest(try await client.pushImage("hot/other", tag: "v1", layer: "first"))
            #expect(try await get(client, "/v2/hot/other/manifests/v1") == (200, other))
        }
    }

    /// Blob HEADs (and the size a GET opens with) come from memory too: an unlinked or collected blob is gone at once.
    @Test func aBlobUnlinkedOrCollectedIsGoneForTheVeryNextHead() async throws {
        try await withRegistry({ $0.gcGrace = .zero }) { client, _ in
            let bytes = Array("shared blob".utf8)
            let blob = try await client.pushBlob("hot/a", bytes)
            try await client.pushBlob("hot/b", bytes)
            func head(_ repository: String) async throws -> Int {
                Int(try await client.execute(uri: "/v2/\(repository)/blobs/\(blob)", method: .head).status.code)
            }
            for _ in 0..<2 { #expect(try await head("hot/a") == 200) }
            #expect(try await client.execute(uri: "/v2/hot/a/blobs/\(blob)", method: .get).body.readableBytes == bytes.count)
            let deleted = try await client.execute(uri: "/v2/hot/a/blobs/\(blob)", method: .delete)
            #expect(deleted.status == .accepted)
            #expect(try await head("hot/a") == 404)
            #expect(try await client.execute(uri: "/v2/hot/a/blobs/\(blob)", method: .get).status == .notFound)
            // Still linked to the other repository, and known there from memory; then garbage collection removes it.
            for _ in 0..<2 { #expect(try await head("hot/b") == 200) }
            let collected = try await client.execute(uri: "/api/v1/gc", method: .post)
            #expect(collected.status == .ok, "\(String(buffer: collected.body))")
            #expect(try await head("hot/b") == 404)
        }
    }

    @Test func readsRacingAPushStormSeeOnlyWhatTheTagHeldMeanwhile() async throws {
        try await withRegistry { client, _ in
            let pushes = 60
            // The manifests, pushed once under other tags, so that the storm only moves `hot`.
            var digests = [String]()
            var bodies = [[UInt8]]()
            for index in 0..<pushes {
                let body = try await client.pushImage("storm/app", tag: "m\(index)", layer: "layer \(index)")
                bodies.append(body)
                digests.append(digest(body))
            }
            let order = Dictionary(uniqueKeysWithValues: digests.enumerated().map { ($1, $0) })
            let storm = Storm()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { [bodies] in
                    for (index, body) in bodies.enumerated() {
                        storm.started.store(index, ordering: .sequentiallyConsistent)
                        let response = try await client.execute(
                            uri: "/v2/storm/app/manifests/hot", method: .put,
                            headers: [.contentType: "application/vnd.oci.image.manifest.v1+json"], body: buffer(body))
                        #expect(response.status == .created)
                        storm.answered.store(index, ordering: .sequentiallyConsistent)
                    }
                }
                for _ in 0..<3 {
                    group.addTask {
                        while storm.answered.load(ordering: .sequentiallyConsistent) < pushes - 1 {
                            let floor = storm.answered.load(ordering: .sequentiallyConsistent)
                            let (status, got) = try await get(client, "/v2/storm/app/manifests/hot")
                            let ceiling = storm.started.load(ordering: .sequentiallyConsistent)
                            if status == 404, floor < 0 { continue }
                            guard status == 200, let got, let index = order[got] else {
                                storm.violations.withLock { $0.append("\(status) \(got ?? "-")") }
                                continue
                            }
                            if index < floor || index > ceiling {
                                storm.violations.withLock { $0.append("got \(index) while \(floor)...\(ceiling)") }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(storm.violations.withLock { $0 }.isEmpty)
            #expect(try await get(client, "/v2/storm/app/manifests/hot") == (200, digests[pushes - 1]))
        }
    }
}
