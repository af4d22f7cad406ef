import Foundation
import WharfCore
import WharfStorage

/// The piece lists the tracker hands out: computed once per blob, on the first request, by reading the blob through
/// (in bounded memory, checked against its digest), then kept in the metadata store.
package struct PieceLists: Sendable {
    let registry: Registry
    let pieceSize: Int64

    package init(registry: Registry, pieceSize: Int64 = PieceList.defaultPieceSize) {
        self.registry = registry
        self.pieceSize = pieceSize
    }

    /// The list of blob `digest` as `repository` holds it (a blob it does not hold is `BLOB_UNKNOWN`).
    package func list(of digest: Digest, in repository: RepositoryName) async throws -> PieceList {
        let size = try await registry.blobSize(repository, digest)
        if let stored = try await registry.metadata.pieceList(digest, pieceSize: pieceSize) {
            return try JSONDecoder().decode(PieceList.self, from: Data(stored.utf8))
        }
        let body = BlobRangeStream(registry: registry, repository: repository, digest: digest, offset: 0, length: size)
        let list = try await PieceHasher.pieceList(of: body, digest: digest, pieceSize: pieceSize)
        try await registry.metadata.savePieceList(
            digest, pieceSize: pieceSize, list: String(decoding: try list.canonicalBytes(), as: UTF8.self))
        return list
    }
}
