import Foundation
import Synchronization
import WharfCore
import WharfStorage

/// The piece lists the tracker hands out: computed once per blob, on the first request, by reading the blob through
/// (in bounded memory, checked against its digest), then kept in the metadata store.
package struct PieceLists: Sendable {
    let registry: Registry
    let pieceSize: Int64
    /// Lists handed out lately, for the announcements and plans that follow (their piece token is the access check).
    private let recent = RecentLists()

    package init(registry: Registry, pieceSize: Int64 = PieceList.defaultPieceSize) {
        self.registry = registry
        self.pieceSize = pieceSize
    }

    /// The list of blob `digest` as `repository` holds it (a blob it does not hold is `BLOB_UNKNOWN`).
    package func list(of digest: Digest, in repository: RepositoryName) async throws -> PieceList {
        let size = try await registry.blobSize(repository, digest)
        if let stored = try await registry.metadata.pieceList(digest, pieceSize: pieceSize) {
            let list = try JSONDecoder().decode(PieceList.self, from: Data(stored.utf8))
            recent.keep(list)
            return list
        }
        let body = BlobRangeStream(registry: registry, repository: repository, digest: digest, offset: 0, length: size)
        let list = try await PieceHasher.pieceList(of: body, digest: digest, pieceSize: pieceSize)
        try await registry.metadata.savePieceList(
            digest, pieceSize: pieceSize, list: String(decoding: try list.canonicalBytes(), as: UTF8.self))
        recent.keep(list)
        return list
    }

    /// A list handed out lately, without a store read.
    package func known(_ digest: String) -> PieceList? { recent.lists.withLock { $0[digest] } }
}

/// At most `limit` lists; when full it starts again, as swarms are short-lived.
final class RecentLists: Sendable {
    let lists = Mutex<[String: PieceList]>([:])
    let limit = 4096

    func keep(_ list: PieceList) {
        lists.withLock { lists in
            if lists.count >= limit { lists.removeAll() }
            lists[list.digest] = list
        }
    }
}
