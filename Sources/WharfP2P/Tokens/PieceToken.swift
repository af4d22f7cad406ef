import Crypto
import Foundation
import JWTKit

/// A short-lived grant to fetch the pieces of one blob of one repository from peers (an ES256 JWT). The origin issues
/// it only to a caller that may pull the blob there; a peer checks it with the registry's public key.
package struct PieceTokenClaims: JWTPayload, Equatable {
    package static let audience = "wharf-p2p"

    package var sub: SubjectClaim
    package var aud: AudienceClaim
    package var exp: ExpirationClaim
    package var iat: IssuedAtClaim
    package var repository: String
    package var digest: String

    package var subject: String { sub.value }

    package func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        try aud.verifyIntendedAudience(includes: Self.audience)
    }
}

/// Issues piece tokens (the origin) and checks them (every peer).
package struct PieceTokens: Sendable {
    package struct Refused: Error, CustomStringConvertible {
        package let description: String
    }

    private let keys: JWTKeyCollection
    private let keyID: String
    /// The registry's key, which also signs piece lists.
    package let publicKey: P256.Signing.PublicKey

    /// The origin: signs with its private key.
    package init(signingWith key: P2PKey) async throws {
        keys = JWTKeyCollection()
        keyID = key.id
        publicKey = key.privateKey.publicKey
        await keys.add(ecdsa: try ES256PrivateKey(pem: key.privateKey.pemRepresentation), kid: JWKIdentifier(string: key.id))
    }

    /// A peer: checks with the registry's public key (PEM), as the origin publishes it.
    package init(verifyingWith publicKeyPEM: String) async throws {
        let key = try P256.Signing.PublicKey(pemRepresentation: publicKeyPEM)
        keys = JWTKeyCollection()
        keyID = P2PKey.id(of: key)
        publicKey = key
        await keys.add(ecdsa: try ES256PublicKey(pem: publicKeyPEM), kid: JWKIdentifier(string: keyID))
    }

    package func issue(subject: String, repository: String, digest: String, lifetime: TimeInterval = 300) async throws
        -> String
    {
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        let claims = PieceTokenClaims(
            sub: .init(value: subject), aud: .init(value: PieceTokenClaims.audience),
            exp: .init(value: now.addingTimeInterval(lifetime)), iat: .init(value: now), repository: repository,
            digest: digest)
        return try await keys.sign(claims, kid: JWKIdentifier(string: keyID))
    }

    /// The claims of `token` when it is this registry's and unexpired; else `Refused`.
    package func verify(_ token: String) async throws -> PieceTokenClaims {
        do {
            return try await keys.verify(token, as: PieceTokenClaims.self)
        } catch {
            throw Refused(description: "the piece token is not valid: \(error)")
        }
    }

    /// The same, and for blob `digest`.
    package func verify(_ token: String, for digest: String) async throws -> PieceTokenClaims {
        let claims = try await verify(token)
        guard claims.digest == digest else { throw Refused(description: "the piece token is for another blob") }
        return claims
    }
}
