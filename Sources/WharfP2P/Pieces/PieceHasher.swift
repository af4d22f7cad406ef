import Crypto
import NIOCore
import WharfCore

/// Builds a blob's piece list from its bytes as they stream by, checking the whole against its digest: never more
/// than one buffer in memory, whatever the blob's size.
package struct PieceHasher {
    package struct DigestMismatch: Error, CustomStringConvertible {
        package let description: String
    }

    let pieceSize: Int64
    private var piece = SHA256()
    private var inPiece: Int64 = 0
    private var whole: DigestHasher
    private var size: Int64 = 0
    private var pieces: [String] = []

    package init(digest: WharfCore.Digest, pieceSize: Int64 = PieceList.defaultPieceSize) {
        precondition(pieceSize > 0)
        self.pieceSize = pieceSize
        whole = DigestHasher(digest.algorithm)
    }

    package mutating func update(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in
            whole.update(bytes)
            var offset = 0
            while offset < bytes.count {
                let take = min(Int(pieceSize - inPiece), bytes.count - offset)
                piece.update(bufferPointer: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + take]))
                inPiece += Int64(take)
                offset += take
                if inPiece == pieceSize { closePiece() }
            }
        }
        size += Int64(buffer.readableBytes)
    }

    /// The list, once every byte went through `update`; throws when they are not the blob `digest` names.
    package mutating func finish(_ digest: WharfCore.Digest) throws -> PieceList {
        if inPiece > 0 { closePiece() }
        guard whole.finalize() == digest else {
            throw DigestMismatch(description: "the bytes read are not \(digest)")
        }
        return PieceList(digest: digest.description, size: size, pieceSize: pieceSize, pieces: pieces)
    }

    private mutating func closePiece() {
        pieces.append(Array(piece.finalize()).hexString)
        piece = SHA256()
        inPiece = 0
    }

    /// The piece list of the blob `digest` whose bytes `body` streams.
    package static func pieceList(
        of body: some AsyncSequence<ByteBuffer, any Error>, digest: WharfCore.Digest,
        pieceSize: Int64 = PieceList.defaultPieceSize
    ) async throws -> PieceList {
        var hasher = PieceHasher(digest: digest, pieceSize: pieceSize)
        for try await buffer in body { hasher.update(buffer) }
        return try hasher.finish(digest)
    }
}
