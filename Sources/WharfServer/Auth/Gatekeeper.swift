import Foundation
import HTTPTypes
import Hummingbird
import Logging
import WharfAuth

/// Access control in front of every request: who is asking (Basic credentials, a bearer token, or nobody) and
/// whether the policy lets them. Refusals are decided from the policy alone, before any handler looks at the
/// store, so a caller who may not pull a repository learns nothing about whether it exists.
struct Gatekeeper: Sendable {
    let policy: AccessPolicy
    let authenticator: Authenticator
    /// nil: clients are challenged for Basic credentials instead of tokens.
    let tokens: TokenService?
    let throttle: LoginThrottle
    /// The token endpoint's URL for challenges; nil derives it from the request's Host.
    let realm: String?
    let logger: Logger

    func admit(_ request: Request, requirement: AccessRequirement, client: String, scheme: String) async throws(AuthDenial)
        -> Caller
    {
        // Probes and unknown paths need nothing, not even credentials that check out.
        if requirement == .open { return Caller(identity: .anonymous, auth: "none", grants: nil, policy: policy) }
        let caller = try await identify(request, requirement: requirement, client: client, scheme: scheme)
        let loggedIn = caller.identity.kind != .anonymous
        let allowed =
            switch requirement {
            case .open: true
            case .loggedIn, .catalog: caller.auth != "none"
            case .browse: caller.auth != "none" || !policy.anonymousPull.isEmpty
            case .registryAdmin: policy.isRegistryAdmin(caller.identity)
            case .repository(let name, let role): caller.may(role, in: name)
            }
        if allowed { return caller }
        guard loggedIn else {
            throw .unauthorized(
                "authentication required", challenge: challenge(request, scheme, requirement.scope), caller: caller)
        }
        guard case .repository(let name, let role) = requirement else {
            throw .denied("\(caller.identity.name) is not an administrator of this registry", caller: caller)
        }
        if caller.grants != nil, policy.allows(caller.identity, role, in: name) {
            // The identity may, but this token does not say so. As RFC 6750 has it: 403 with a challenge naming
            // the scope, so that the client fetches a token that does.
            var denial = AuthDenial.denied("the token does not grant \(role.rawValue) in \(name)", caller: caller)
            denial.headers[.wwwAuthenticate] = challenge(
                request, scheme, requirement.scope, error: "insufficient_scope")
            throw denial
        }
        throw .denied("\(caller.identity.name) may not \(role.rawValue) in \(name)", caller: caller)
    }

    /// The identity that the request's credentials prove; anonymous without credentials.
    private func identify(_ request: Request, requirement: AccessRequirement, client: String, scheme: String)
        async throws(AuthDenial) -> Caller
    {
        guard let authorization = request.headers[.authorization] else {
            return Caller(identity: .anonymous, auth: "none", grants: nil, policy: policy)
        }
        if let (name, secret) = Self.basicCredentials(authorization) {
            let identity = try await login(name: name, secret: secret, client: client) {
                challenge(request, scheme, requirement.scope)
            }
            return Caller(identity: identity, auth: "basic", grants: nil, policy: policy)
        }
        if authorization.lowercased().hasPrefix("bearer "), let tokens {
            let token = String(authorization.dropFirst(7)).trimmingCharacters(in: .whitespaces)
            guard let claims = try? await tokens.verify(token, use: .access),
                let identity = await authenticator.current(name: claims.subject, kind: claims.kind)
            else {
                throw .unauthorized(
                    "invalid or expired token",
                    challenge: challenge(request, scheme, requirement.scope, error: "invalid_token"))
            }
            return Caller(identity: identity, auth: "bearer", grants: claims.access, policy: policy)
        }
        throw .unauthorized("unsupported credentials", challenge: challenge(request, scheme, requirement.scope))
    }

    /// Checks a name and secret, refusing early while the address or the name has failed too often.
    func login(name: String, secret: String, client: String, challenge: () -> String) async throws(AuthDenial)
        -> Identity
    {
        if let wait = throttle.retryAfter(address: client, user: name) {
            throw .tooManyRequests(retryAfter: wait, detail: "login as \(Self.printable(name)) refused: too many failures")
        }
        guard let identity = await authenticator.authenticate(name: name, secret: secret) else {
            throttle.recordFailure(address: client, user: name)
            logger.notice("failed login", metadata: ["user": "\(Self.printable(name))", "client": "\(client)"])
            throw .unauthorized(
                "invalid user name or password", challenge: challenge(), detail: "failed login as \(Self.printable(name))")
        }
        return identity
    }

    func challenge(_ request: Request, _ scheme: String, _ scope: String?, error: String? = nil) -> String {
        guard let tokens else { return "Basic realm=\"wharf\"" }
        var challenge = "Bearer realm=\"\(tokenURL(request, scheme))\",service=\"\(tokens.settings.service)\""
        if let scope { challenge += ",scope=\"\(scope)\"" }
        if let error { challenge += ",error=\"\(error)\"" }
        return challenge
    }

    private func tokenURL(_ request: Request, _ scheme: String) -> String {
        if let realm { return realm }
        let host = request.head.authority ?? "localhost"
        let safe = host.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "/") }
        return "\(scheme)://\(safe ? host : "localhost")\(TokenEndpoint.path)"
    }

    /// `Basic base64(name:secret)`; the secret may contain colons, the name may not.
    static func basicCredentials(_ header: String) -> (String, String)? {
        guard header.lowercased().hasPrefix("basic "),
            let data = Data(base64Encoded: String(header.dropFirst(6)).trimmingCharacters(in: .whitespaces)),
            let text = String(data: data, encoding: .utf8), let colon = text.firstIndex(of: ":")
        else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    /// A user name as logs and records show it: printable ASCII, at most 64 characters.
    static func printable(_ name: String) -> String {
        String(String(decoding: name.utf8.map { $0 > 0x20 && $0 < 0x7f ? $0 : UInt8(ascii: "?") }, as: UTF8.self).prefix(64))
    }
}
