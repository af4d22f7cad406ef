import WharfCore

/// Piece lists of blobs, computed once and kept (as their JSON): a blob's content never changes, so neither does its
/// list for a piece size. Forgotten with the blob.
extension MetadataStore {
    package func pieceList(_ digest: Digest, pieceSize: Int64) async throws -> String? {
        try await database.read { db in
            try db.value(
                "SELECT list FROM p2p_piece_lists WHERE digest = ? AND piece_size = ?", [digest.description, pieceSize])
        }
    }

    package func savePieceList(_ digest: Digest, pieceSize: Int64, list: String) async throws {
        try await database.write { db in
            try db.execute(
                "INSERT INTO p2p_piece_lists(digest, piece_size, list) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                [digest.description, pieceSize, list])
        }
    }
}
