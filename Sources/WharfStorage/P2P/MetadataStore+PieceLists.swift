import GRDB
import WharfCore

/// Piece lists of blobs, computed once and kept (as their JSON): a blob's content never changes, so neither does its
/// list for a piece size. Forgotten with the blob.
extension MetadataStore {
    package func pieceList(_ digest: Digest, pieceSize: Int64) async throws -> String? {
        try await pool.read { db in
            try String.fetchOne(
                db, sql: "SELECT list FROM p2p_piece_lists WHERE digest = ? AND piece_size = ?",
                arguments: [digest.description, pieceSize])
        }
    }

    package func savePieceList(_ digest: Digest, pieceSize: Int64, list: String) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT INTO p2p_piece_lists(digest, piece_size, list) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                arguments: [digest.description, pieceSize, list])
        }
    }
}
