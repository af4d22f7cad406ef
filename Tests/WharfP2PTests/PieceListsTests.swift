import Foundation
import Logging
import NIOCore
import Testing
import WharfCore
import WharfStorage
import WharfTestSupport

@testable import WharfP2P

/// Piece lists of stored blobs: computed from the store's bytes once, kept, refused for a repository without the
/// blob, and forgotten with the blob.
@Suite struct PieceListsTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-pieces-\(UUID())").path

    @Test func computedOnceFromTheStoreAndForgottenWithTheBlob() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = try Registry(
            configuration: StorageConfiguration(
                dataDirectory: directory, postgres: try TestMetadata.database(for: directory)),
            logger: Logger(label: "test"))
        let repository = try RepositoryName("team/big")
        let blob = (0..<300_000).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 11) }
        let digest = Digest.of(blob)
        try await registry.uploadBlob(
            repository, digest: digest,
            body: AsyncStream { continuation in
                continuation.yield(ByteBuffer(bytes: blob))
                continuation.finish()
            })
        let lists = PieceLists(registry: registry, pieceSize: 65_536)
        let list = try await lists.list(of: digest, in: repository)
        #expect(list.pieces.count == 5 && list.size == 300_000 && list.digest == digest.description)
        #expect(blob[65_536..<131_072].withUnsafeBytes { list.verify($0, piece: 1) })
        #expect(try await registry.metadata.pieceList(digest, pieceSize: 65_536) != nil, "the list was not kept")
        #expect(try await lists.list(of: digest, in: repository) == list)

        await #expect(throws: RegistryError.self) { try await lists.list(of: digest, in: try RepositoryName("other/repo")) }
        try await registry.metadata.deleteBlobRows(digest)
        #expect(try await registry.metadata.pieceList(digest, pieceSize: 65_536) == nil)
    }
}
