import Foundation
import Logging
import NIOCore
import Testing
import WharfCore

@testable import WharfStorage

@Suite struct StoreCheckerTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-fsck-\(UUID())").path

    @Test func findsAndRepairsCorruptMissingAndOrphanBlobs() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = try Registry(configuration: StorageConfiguration(dataDirectory: directory), logger: Logger(label: "test"))
        let repository = try RepositoryName("fsck")
        var digests = [Digest]()
        for content in ["intact", "to corrupt", "to lose"] {
            let digest = Digest.of(Array(content.utf8))
            try await registry.uploadBlob(repository, digest: digest, body: [ByteBuffer(string: content)].async)
            digests.append(digest)
        }
        let checker = StoreChecker(registry: registry)
        let clean = try await checker.check(repair: false)
        #expect(clean.isClean && clean.files == 3 && clean.hashed == 3)

        // One flipped byte, one deleted file, one file nothing names.
        let corruptPath = registry.blobs.path(of: digests[1])
        var bytes = try Data(contentsOf: URL(fileURLWithPath: corruptPath))
        bytes[0] ^= 0xff
        try bytes.write(to: URL(fileURLWithPath: corruptPath))
        try FileManager.default.removeItem(atPath: registry.blobs.path(of: digests[2]))
        let orphan = Digest.of(Array("orphan".utf8))
        try await registry.blobs.write(Array("orphan".utf8), as: orphan)

        let found = try await checker.check(repair: false)
        #expect(found.corrupt == [digests[1]])
        #expect(found.danglingRows == [digests[2]])
        #expect(found.orphanFiles == [registry.blobs.path(of: orphan)])
        #expect(found.repaired.isEmpty)
        #expect(try await registry.blobSize(repository, digests[1]) == 10)  // nothing changed without --repair

        let repaired = try await checker.check(repair: true)
        #expect(repaired.repaired.count == 2)
        #expect(FileManager.default.fileExists(atPath: "\(directory)/quarantine/sha256-\(digests[1].hex)"))
        await #expect(throws: RegistryError.self) { try await registry.blobSize(repository, digests[1]) }
        await #expect(throws: RegistryError.self) { try await registry.blobSize(repository, digests[2]) }
        #expect(try await registry.blobSize(repository, digests[0]) == 6)

        let after = try await checker.check(sample: 1, repair: false)
        #expect(after.corrupt.isEmpty && after.danglingRows.isEmpty && after.hashed == 1)
        #expect(after.orphanFiles == [registry.blobs.path(of: orphan)])
    }
}
