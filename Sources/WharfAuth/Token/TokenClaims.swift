import Foundation
import JWTKit

/// The claims of the tokens Wharf issues. Access tokens follow the Docker registry token spec (`access` lists
/// what the bearer may do); refresh tokens (OAuth2, `use: refresh`) only name who they were issued to.
public struct TokenClaims: JWTPayload, Equatable {
    public enum Use: String, Codable, Sendable {
        case access, refresh
    }

    public var iss: IssuerClaim
    public var sub: SubjectClaim
    public var aud: AudienceClaim
    public var exp: ExpirationClaim
    public var nbf: NotBeforeClaim
    public var iat: IssuedAtClaim
    public var jti: IDClaim
    public var access: [ResourceAccess]
    /// user, robot or anonymous: how to look the subject up again.
    public var kind: Identity.Kind
    public var use: Use

    public var subject: String { sub.value }
    public var issuedAt: Date { iat.value }

    public func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired()
        try nbf.verifyNotBefore()
    }
}
