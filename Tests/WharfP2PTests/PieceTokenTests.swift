import Crypto
import Foundation
import Testing

@testable import WharfP2P

/// Piece tokens: a peer accepts one only when the registry's key signed it, it has not expired, and it names the
/// blob asked for.
@Suite struct PieceTokenTests {
    let digest = "sha256:" + String(repeating: "ab", count: 32)

    @Test func aPeerAcceptsOnlyTheRegistrysUnexpiredTokenForThatBlob() async throws {
        let key = P2PKey(P256.Signing.PrivateKey())
        let origin = try await PieceTokens(signingWith: key)
        let peer = try await PieceTokens(verifyingWith: key.publicKeyPEM)
        let token = try await origin.issue(subject: "alice", repository: "team/app", digest: digest)
        let claims = try await peer.verify(token, for: digest)
        #expect(claims.subject == "alice" && claims.repository == "team/app")

        await #expect(throws: PieceTokens.Refused.self) {
            try await peer.verify(token, for: "sha256:" + String(repeating: "cd", count: 32))
        }
        let expired = try await origin.issue(subject: "alice", repository: "team/app", digest: digest, lifetime: -5)
        await #expect(throws: PieceTokens.Refused.self) { try await peer.verify(expired, for: digest) }
        let stranger = try await PieceTokens(signingWith: P2PKey(P256.Signing.PrivateKey()))
        let forged = try await stranger.issue(subject: "mallory", repository: "team/app", digest: digest)
        await #expect(throws: PieceTokens.Refused.self) { try await peer.verify(forged, for: digest) }
        await #expect(throws: PieceTokens.Refused.self) { try await peer.verify("not.a.token", for: digest) }
    }

    @Test func theKeyIsMadeOnceAndKept() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-p2p-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let made = try P2PKey.loadOrCreate(in: directory)
        #expect(try P2PKey.loadOrCreate(in: directory).id == made.id)
        let mode = try FileManager.default.attributesOfItem(atPath: "\(directory)/key.pem")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }
}
