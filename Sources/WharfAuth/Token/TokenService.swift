import Foundation
import JWTKit
import Logging
import Synchronization

/// Issues and checks the registry's signed tokens (JWT, ES256 or RS256). The keys come from a `SigningKeyStore`,
/// reread by `reload()`, so that a key added by `wharf auth rotate-signing-key` signs within moments.
public final class TokenService: Sendable {
    public struct Settings: Sendable, Equatable {
        public var issuer = "wharf"
        /// The audience: the `service` of the challenge.
        public var service = "wharf"
        public var lifetime: Duration = .seconds(300)
        public var refreshLifetime: Duration = .seconds(30 * 86400)
        public var algorithm = SigningKeys.Algorithm.es256

        public init() {}
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    private struct Keys {
        let collection: JWTKeyCollection
        let active: String
        let algorithms: [String: String]
    }

    public let settings: Settings
    private let store: any SigningKeyStore
    private let keys: Mutex<Keys>
    /// When a token named a key this instance does not know, which another instance may have just added.
    private let lastUnknownKey = Mutex<ContinuousClock.Instant?>(nil)
    /// Tokens already verified, until they expire or the keys change: a client sends the same token with every
    /// request of a pull, and a signature check costs more than the rest of a manifest GET.
    private let verified = Mutex([String: TokenClaims]())
    private let logger: Logger

    public init(settings: Settings, keys store: any SigningKeyStore, logger: Logger) async throws {
        self.settings = settings
        self.store = store
        self.logger = logger
        if let id = try await store.ensureKey(settings.algorithm) {
            logger.notice("created a token signing key", metadata: ["kid": "\(id)", "in": "\(store.location)"])
        }
        keys = Mutex(try await Self.load(store))
    }

    /// Rereads the keys.
    public func reload() async throws {
        let loaded = try await Self.load(store)
        let changed = keys.withLock { keys in
            defer { keys = loaded }
            return keys.active != loaded.active || keys.algorithms != loaded.algorithms
        }
        if changed {
            verified.withLock { $0.removeAll() }
            logger.info("token signing keys reloaded", metadata: ["active": "\(loaded.active)"])
        }
    }

    /// A token for `identity`, granting `access` (or, for `.refresh`, the right to ask for more tokens).
    public func issue(_ identity: Identity, access: [ResourceAccess], use: TokenClaims.Use) async throws -> (
        token: String, claims: TokenClaims
    ) {
        // Whole seconds, as the token spec's NumericDate is written by most issuers.
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        let lifetime = use == .access ? settings.lifetime : settings.refreshLifetime
        let claims = TokenClaims(
            iss: .init(value: settings.issuer), sub: .init(value: identity.name), aud: .init(value: settings.service),
            exp: .init(value: now.addingTimeInterval(Double(lifetime.components.seconds))),
            nbf: .init(value: now.addingTimeInterval(-1)), iat: .init(value: now), jti: .init(value: UUID().uuidString),
            access: access, kind: identity.kind, use: use)
        let (collection, active) = keys.withLock { ($0.collection, $0.active) }
        return (try await collection.sign(claims, kid: JWKIdentifier(string: active)), claims)
    }

    /// The claims of a token this registry signed for this use, if its signature, algorithm, key id, issuer,
    /// audience and lifetime are all right.
    public func verify(_ token: String, use: TokenClaims.Use) async throws -> TokenClaims {
        if let claims = verified.withLock({ $0[token] }), claims.use == use, claims.exp.value > Date() {
            return claims
        }
        let header = try Self.header(token)
        if let kid = header.kid, keys.withLock({ $0.algorithms[kid] == nil }), unknownKeyMayBeNew() {
            try? await reload()  // failing, the token fails as one of an unknown key
        }
        let (collection, algorithms) = keys.withLock { ($0.collection, $0.algorithms) }
        // The header must name one of our keys and that key's algorithm: no `alg: none`, no algorithm swaps.
        guard let kid = header.kid, let expected = algorithms[kid], header.alg == expected else {
            throw Invalid(description: "token not signed by a key of this registry")
        }
        let claims = try await collection.verify(token, as: TokenClaims.self)
        guard claims.iss.value == settings.issuer, claims.aud.value.contains(settings.service), claims.use == use else {
            throw Invalid(description: "token issued for another service or use")
        }
        verified.withLock { verified in
            if verified.count >= 10_000 { verified.removeAll() }
            verified[token] = claims
        }
        return claims
    }

    /// At most once a second, so that tokens with made-up key ids cannot make every request reread the keys.
    private func unknownKeyMayBeNew() -> Bool {
        let now = ContinuousClock.now
        return lastUnknownKey.withLock { last in
            guard last.map({ now - $0 >= .seconds(1) }) ?? true else { return false }
            last = now
            return true
        }
    }

    private struct Header: Decodable {
        let alg: String?
        let kid: String?
    }

    private static func header(_ token: String) throws -> Header {
        guard let encoded = token.split(separator: ".", omittingEmptySubsequences: false).first else {
            throw Invalid(description: "not a JWT")
        }
        var base64 = encoded.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        guard let data = Data(base64Encoded: base64) else { throw Invalid(description: "not a JWT") }
        return try JSONDecoder().decode(Header.self, from: data)
    }

    private static func load(_ store: any SigningKeyStore) async throws -> Keys {
        guard let (keys, active) = try await store.load() else {
            throw Invalid(description: "no token signing keys in \(store.location)")
        }
        let collection = JWTKeyCollection()
        var algorithms = [String: String]()
        for key in keys {
            let kid = JWKIdentifier(string: key.id)
            switch key.algorithm {
            case .es256: await collection.add(ecdsa: try ES256PrivateKey(pem: key.pem), kid: kid)
            case .rs256:
                await collection.add(rsa: try Insecure.RSA.PrivateKey(pem: key.pem), digestAlgorithm: .sha256, kid: kid)
            }
            algorithms[key.id] = key.algorithm.rawValue
        }
        return Keys(collection: collection, active: active, algorithms: algorithms)
    }
}
