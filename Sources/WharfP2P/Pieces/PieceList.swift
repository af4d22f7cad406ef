import Crypto
import Foundation
import WharfCore

/// A blob cut into pieces of `pieceSize` bytes (the last one shorter) with the SHA-256 of each: what an agent checks
/// every piece it receives against, before the blob's own digest is checked at the end.
package struct PieceList: Sendable, Equatable, Codable {
    package static let defaultPieceSize: Int64 = 4 << 20

    package let digest: String
    package let size: Int64
    package let pieceSize: Int64
    /// Lower-case hex SHA-256 of each piece, in order.
    package let pieces: [String]

    package init(digest: String, size: Int64, pieceSize: Int64, pieces: [String]) {
        self.digest = digest
        self.size = size
        self.pieceSize = pieceSize
        self.pieces = pieces
    }

    /// The blob's bytes that piece `index` holds.
    package func range(of index: Int) -> Range<Int64> {
        let start = Int64(index) * pieceSize
        return start..<min(start + pieceSize, size)
    }

    /// Whether `bytes` are piece `index`.
    package func verify(_ bytes: UnsafeRawBufferPointer, piece index: Int) -> Bool {
        pieces.indices.contains(index) && Int64(bytes.count) == range(of: index).count
            && Array(SHA256.hash(data: bytes)).hexString == pieces[index]
    }

    /// What is signed: the JSON with sorted keys and no spaces, so a verifier that decoded the list encodes the same
    /// bytes again.
    package func canonicalBytes() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

/// A piece list with the registry's signature (ECDSA P-256 over its canonical bytes): no peer can forge one.
package struct SignedPieceList: Sendable, Equatable, Codable {
    package let list: PieceList
    /// Names the registry key that signed it.
    package let keyID: String
    /// Base64 of the raw (r ‖ s) signature.
    package let signature: String

    package init(_ list: PieceList, signedWith key: P256.Signing.PrivateKey, keyID: String) throws {
        self.list = list
        self.keyID = keyID
        signature = try key.signature(for: list.canonicalBytes()).rawRepresentation.base64EncodedString()
    }

    package func isSigned(by key: P256.Signing.PublicKey) -> Bool {
        guard let raw = Data(base64Encoded: signature),
            let signature = try? P256.Signing.ECDSASignature(rawRepresentation: raw),
            let bytes = try? list.canonicalBytes()
        else { return false }
        return key.isValidSignature(signature, for: bytes)
    }
}
