import Foundation
import Logging
import NIOCore
import Testing
import WharfCore
import WharfTestSupport

@testable import WharfStorage

@Suite struct StoreCheckerTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-fsck-\(UUID())").path

    @Test func findsAndRepairsCorruptMissingAndOrphanBlobs() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = try Registry(
            configuration: StorageConfiguration(
                dataDirectory: directory, postgres: try TestMetadata.database(for: directory)),
            logger: Logger(label: "test"))
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
        let corruptPath = registry.files!.path(of: digests[1])
        var bytes = try Data(contentsOf: URL(fileURLWithPath: corruptPath))
        bytes[0] ^= 0xff
        try bytes.write(to: URL(fileURLWithPath: corruptPath))
        try FileManager.default.removeItem(atPath: registry.files!.path(of: digests[2]))
        let orphan = Digest.of(Array("orphan".utf8))
        try await registry.blobs.write(Array("orphan".utf8), as: orphan)

        let found = try await checker.check(repair: false)
        #expect(found.corrupt == [digests[1]])
        #expect(found.danglingRows == [digests[2]])
        #expect(found.orphanFiles.map(\.path) == [registry.files!.path(of: orphan)])
        #expect(found.repaired.isEmpty)
        #expect(try await registry.blobSize(repository, digests[1]) == 10)  // nothing changed without --repair

        // The orphan is younger than the grace period: a push may be between its rename and its row, so it stays.
        let repaired = try await checker.check(repair: true)
        #expect(repaired.repaired.count == 2)
        #expect(FileManager.default.fileExists(atPath: "\(directory)/quarantine/sha256-\(digests[1].hex)"))
        await #expect(throws: RegistryError.self) { try await registry.blobSize(repository, digests[1]) }
        await #expect(throws: RegistryError.self) { try await registry.blobSize(repository, digests[2]) }
        #expect(try await registry.blobSize(repository, digests[0]) == 6)

        let after = try await checker.check(sample: 1, repair: false)
        #expect(after.corrupt.isEmpty && after.danglingRows.isEmpty && after.hashed == 1)
        #expect(after.isClean && after.orphanFiles.map(\.path) == [registry.files!.path(of: orphan)])

        // Older than the grace period, it is deleted.
        let reclaimed = try await checker.check(repair: true, grace: .zero)
        #expect(reclaimed.repaired == ["deleted orphan file \(registry.files!.path(of: orphan))"])
        #expect(!FileManager.default.fileExists(atPath: registry.files!.path(of: orphan)))
        #expect(try await checker.check(repair: false).orphanFiles.isEmpty)
    }

    @Test func reportsUploadFilesWithTheirAge() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = try Registry(
            configuration: StorageConfiguration(
                dataDirectory: directory, postgres: try TestMetadata.database(for: directory)),
            logger: Logger(label: "test"))
        let session = try await registry.startUpload(try RepositoryName("fsck"))
        let leftover = registry.files!.uploadPath("direct-42")
        FileManager.default.createFile(atPath: leftover, contents: Data("torn".utf8))
        let old = Date(timeIntervalSinceNow: -7200)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: leftover)

        let report = try await StoreChecker(registry: registry).check(repair: false)
        #expect(report.isClean)
        #expect(Set(report.uploadFiles.map(\.path)) == [registry.files!.uploadPath(session), leftover])
        #expect(report.abandonedUploads == [leftover])
        let age = try #require(report.uploadFiles.first { $0.path == leftover }).age
        #expect(age > 7190 && age < 7300)
    }
}
