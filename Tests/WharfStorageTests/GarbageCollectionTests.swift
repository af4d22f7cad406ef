import Foundation
import Logging
import NIOCore
import Synchronization
import Testing
import WharfCore

@testable import WharfStorage

@Suite struct GarbageCollectionTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-gc-\(UUID())").path

    func open(encrypted: Bool = false) throws -> Registry { try openRegistry(directory, encrypted: encrypted) }

    func push(_ registry: Registry, _ repository: RepositoryName, _ content: String) async throws -> Digest {
        let digest = Digest.of(Array(content.utf8))
        try await registry.uploadBlob(repository, digest: digest, body: [ByteBuffer(string: content)].async)
        return digest
    }

    func manifest(config: Digest, layer: Digest) -> [UInt8] {
        Array(
            #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"x","digest":"\#(config)","size":1},"layers":[{"mediaType":"y","digest":"\#(layer)","size":1}]}"#
                .utf8)
    }

    @Test func removesOnlyUnreferencedBlobsPastTheGracePeriod() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = try open()
        let repository = try RepositoryName("gc")
        let orphan = try await push(registry, repository, "nobody references me")
        let config = try await push(registry, repository, "config")
        let layer = try await push(registry, repository, "layer")
        let seen = try await push(registry, repository, "a client just looked at me")
        _ = try await registry.putManifest(
            repository, reference: .tag(try Tag("v1")), contentType: nil, bytes: manifest(config: config, layer: layer))
        try await Task.sleep(for: .milliseconds(1100))

        let young = try await registry.collectGarbage(grace: .seconds(60), dryRun: false)
        #expect(young.blobs == 0)
        // A HEAD: a push may reference the blob next. Made right before each sweep, so that a slow machine cannot
        // age it past the 1 s grace in between.
        _ = try await registry.blobSize(repository, seen)
        let dry = try await registry.collectGarbage(grace: .seconds(1), dryRun: true)
        #expect(dry.digests == [orphan.description] && dry.bytes == 20 && dry.dryRun)
        #expect(FileManager.default.fileExists(atPath: registry.files!.path(of: orphan)))

        _ = try await registry.blobSize(repository, seen)
        let run = try await registry.collectGarbage(grace: .seconds(1), dryRun: false)
        #expect(run.digests == [orphan.description] && run.blobs == 1)
        #expect(!FileManager.default.fileExists(atPath: registry.files!.path(of: orphan)))
        await #expect(throws: RegistryError.self) { try await registry.blobSize(repository, orphan) }
        for kept in [config, layer, seen] { #expect(try await registry.blobSize(repository, kept) > 0) }
        #expect(try await StoreChecker(registry: registry).check(repair: false).isClean)

        // Once the manifest is gone its blobs are garbage too.
        try await registry.deleteManifest(repository, .tag(try Tag("v1")))
        try await registry.deleteManifest(repository, .digest(Digest.of(manifest(config: config, layer: layer))))
        try await Task.sleep(for: .milliseconds(1100))
        let after = try await registry.collectGarbage(grace: .seconds(1), dryRun: false)
        let manifestDigest = Digest.of(manifest(config: config, layer: layer))
        #expect(Set(after.digests) == Set([config, layer, seen, manifestDigest].map(\.description)))
    }

    /// Pushes that reuse old, unreferenced blobs (HEAD, then PUT of a manifest naming them) while GC sweeps in a
    /// loop with a short grace period: every push succeeds and the store stays consistent.
    @Test func reclaimsOrphanFilesPastTheGracePeriod() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = try open()
        let repository = try RepositoryName("gc")
        let unreferenced = try await push(registry, repository, "a blob row no manifest needs")
        // A file that no row names: what a kill between a commit's rename and its metadata write leaves.
        let orphan = Digest.of(Array("renamed, never committed".utf8))
        try await registry.blobs.write(Array("renamed, never committed".utf8), as: orphan)

        let young = try await registry.collectGarbage(grace: .seconds(60), dryRun: false)
        #expect(young.orphanFiles == 0)
        #expect(FileManager.default.fileExists(atPath: registry.files!.path(of: orphan)))
        try await Task.sleep(for: .milliseconds(1100))
        let dry = try await registry.collectGarbage(grace: .seconds(1), dryRun: true)
        #expect(dry.orphanFiles == 1 && dry.orphanBytes == 24 && dry.blobs == 1)
        #expect(FileManager.default.fileExists(atPath: registry.files!.path(of: orphan)))

        let run = try await registry.collectGarbage(grace: .seconds(1), dryRun: false)
        #expect(run.orphanFiles == 1 && run.blobs == 1 && run.digests == [unreferenced.description])
        #expect(!FileManager.default.fileExists(atPath: registry.files!.path(of: orphan)))
        let report = try await StoreChecker(registry: registry).check(repair: false)
        #expect(report.isClean && report.orphanFiles.isEmpty && report.files == 0)
    }

    @Test(.timeLimit(.minutes(2)), arguments: [false, true]) func sweepingWhilePushesReuseOldBlobs(encrypted: Bool)
        async throws
    {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = try open(encrypted: encrypted)
        let repository = try RepositoryName("gc/race")
        let config = try await push(registry, repository, "{}")
        var old = [Digest]()
        for index in 0..<40 { old.append(try await push(registry, repository, "old layer \(index)")) }
        try await Task.sleep(for: .milliseconds(600))  // every layer is now past the grace period and unreferenced
        let sweeps = Counter()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    _ = try await registry.collectGarbage(grace: .milliseconds(500), dryRun: false)
                    sweeps.increment()
                    try await Task.sleep(for: .milliseconds(2))
                }
            }
            for (index, layer) in old.enumerated() {
                // What a client does: HEAD each blob, upload it again only if the registry no longer has it.
                for blob in [config, layer] where (try? await registry.blobSize(repository, blob)) == nil {
                    let content = blob == config ? "{}" : "old layer \(index)"
                    _ = try await push(registry, repository, content)
                }
                _ = try await registry.putManifest(
                    repository, reference: .tag(try Tag("t\(index)")), contentType: nil,
                    bytes: manifest(config: config, layer: layer))
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...30)))
            }
            group.cancelAll()
            try? await group.waitForAll()
        }
        #expect(sweeps.value > 10)
        for (index, layer) in old.enumerated() {
            #expect(try await registry.manifestRecord(repository, .tag(try Tag("t\(index)"))).size > 0)
            #expect(try await registry.blobSize(repository, layer) > 0)
        }
        let report = try await StoreChecker(registry: registry).check(repair: false)
        #expect(report.corrupt.isEmpty && report.danglingRows.isEmpty)
    }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
