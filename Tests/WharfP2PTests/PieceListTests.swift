import Crypto
import Foundation
import NIOCore
import Testing
import WharfCore

@testable import WharfP2P

/// Piece lists: built from a stream in any chunking, each piece checkable on its own, the whole checked against the
/// blob's digest, and signed so that no altered list verifies.
@Suite struct PieceListTests {
    let blob = (0..<10_000).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 13) }  // no two pieces alike

    func list(chunk: Int, pieceSize: Int64 = 4096) async throws -> PieceList {
        let chunks = stride(from: 0, to: blob.count, by: chunk).map { ByteBuffer(bytes: blob[$0..<min($0 + chunk, blob.count)]) }
        let stream = AsyncThrowingStream<ByteBuffer, any Error> { continuation in
            for chunk in chunks { continuation.yield(chunk) }
            continuation.finish()
        }
        return try await PieceHasher.pieceList(of: stream, digest: .of(blob), pieceSize: pieceSize)
    }

    @Test func piecesDoNotDependOnHowTheBytesArrive() async throws {
        let whole = try await list(chunk: blob.count)
        #expect(whole.pieces.count == 3 && whole.size == 10_000 && whole.digest == Digest.of(blob).description)
        #expect(whole.range(of: 2) == 8192..<10_000)
        for chunk in [1, 1000, 4096, 4097] { #expect(try await list(chunk: chunk) == whole) }
        for index in 0..<3 {
            let range = whole.range(of: index)
            let piece = Array(blob[Int(range.lowerBound)..<Int(range.upperBound)])
            #expect(piece.withUnsafeBytes { whole.verify($0, piece: index) })
            var altered = piece
            altered[0] ^= 1
            #expect(!altered.withUnsafeBytes { whole.verify($0, piece: index) })
            #expect(!piece.withUnsafeBytes { whole.verify($0, piece: (index + 1) % 3) })
        }
    }

    @Test func bytesThatAreNotTheBlobAreRefused() async throws {
        var hasher = PieceHasher(digest: .of(blob), pieceSize: 4096)
        hasher.update(ByteBuffer(bytes: blob.dropLast()))
        #expect(throws: PieceHasher.DigestMismatch.self) { try hasher.finish(.of(blob)) }
    }

    @Test func onlyTheRegistryKeySignsAList() async throws {
        let key = P256.Signing.PrivateKey()
        let signed = try SignedPieceList(try await list(chunk: 500), signedWith: key, keyID: "k1")
        #expect(signed.isSigned(by: key.publicKey))
        #expect(!signed.isSigned(by: P256.Signing.PrivateKey().publicKey))
        // Through JSON and back, as an agent receives it, it still verifies; with one piece hash changed it does not.
        let received = try JSONDecoder().decode(SignedPieceList.self, from: JSONEncoder().encode(signed))
        #expect(received.isSigned(by: key.publicKey))
        var pieces = received.list.pieces
        pieces[1] = String(repeating: "0", count: 64)
        let forged = PieceList(digest: received.list.digest, size: received.list.size, pieceSize: 4096, pieces: pieces)
        let tampered = try JSONDecoder().decode(
            SignedPieceList.self,
            from: JSONSerialization.data(withJSONObject: [
                "list": try JSONSerialization.jsonObject(with: forged.canonicalBytes()), "keyID": "k1",
                "signature": received.signature,
            ]))
        #expect(!tampered.isSigned(by: key.publicKey))
    }
}
