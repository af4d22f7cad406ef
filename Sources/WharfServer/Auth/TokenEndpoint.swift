import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import WharfAuth
import WharfCore

/// The Docker registry token endpoint: `GET` with optional Basic credentials (the classic flow) and the OAuth2
/// `POST` form with `grant_type=password` or `refresh_token` that newer clients use. Tokens grant what was asked
/// for and the policy allows, nothing more.
struct TokenEndpoint: Sendable {
    static let path = ServerEndpoint.token.rawValue
    static let maxFormBytes = 64 << 10
    let gate: Gatekeeper
    let tokens: TokenService

    func respond(to request: Request, client: String, scheme: String) async throws -> (Response, Caller) {
        let challenge = { gate.challenge(request, scheme, nil) }
        let form: [String: [String]]
        switch request.method {
        case .get:
            form = Dictionary(grouping: request.uri.queryParameters.map { (String($0.key), String($0.value)) }) { $0.0 }
                .mapValues { $0.map(\.1) }
        case .post:
            let body = try await request.collectBody(
                upTo: Self.maxFormBytes, tooLarge: "the token form exceeds \(Self.maxFormBytes) bytes")
            form = Self.parseForm(String(buffer: body))
        default:
            throw RegistryError.unsupported("use GET or POST")
        }
        if let service = form["service"]?.first, service != tokens.settings.service {
            throw RegistryError.unsupported("unknown service '\(service.prefix(100))'", status: 400)
        }
        let requested = try (form["scope"] ?? []).flatMap { scope throws(RegistryError) in
            try ResourceAccess.parse(scope: scope)
        }

        let identity: Identity
        let auth: String
        switch form["grant_type"]?.first {
        case "password" where request.method == .get, "refresh_token" where request.method == .get:
            // A password or refresh token in a URL ends up in proxy and shell logs: the OAuth2 form is POST only.
            throw RegistryError.unsupported("grant_type needs the POST form, not query parameters", status: 400)
        case "password":
            identity = try await gate.login(
                name: form["username"]?.first ?? "", secret: form["password"]?.first ?? "", client: client,
                challenge: challenge)
            auth = "password"
        case "refresh_token":
            guard let token = form["refresh_token"]?.first,
                let claims = try? await tokens.verify(token, use: .refresh),
                let current = await gate.authenticator.current(name: claims.subject, kind: claims.kind)
            else { throw AuthDenial.unauthorized("invalid or expired refresh token", challenge: challenge()) }
            identity = current
            auth = "refresh-token"
        case nil where request.method == .get:
            if let header = request.headers[.authorization] {
                guard let (name, secret) = Gatekeeper.basicCredentials(header) else {
                    throw AuthDenial.unauthorized("use Basic credentials", challenge: challenge())
                }
                identity = try await gate.login(name: name, secret: secret, client: client, challenge: challenge)
                auth = "basic"
            } else {
                identity = .anonymous
                auth = "none"
            }
        default:
            throw RegistryError.unsupported("grant_type must be password or refresh_token", status: 400)
        }

        let granted = requested.compactMap { grant($0, to: identity) }
        let (token, claims) = try await tokens.issue(identity, access: granted, use: .access)
        // A refresh token for logged-in callers who asked for one (docker login, podman, oras, helm do).
        var refreshToken: String?
        if identity.kind != .anonymous,
            form["access_type"]?.first == "offline" || form["offline_token"]?.first == "true"
                || form["grant_type"]?.first == "refresh_token"
        {
            refreshToken = try await tokens.issue(identity, access: [], use: .refresh).token
        }
        let body = Answer(
            token: token, access_token: token, expires_in: Int(tokens.settings.lifetime.components.seconds),
            issued_at: ISO8601DateFormatter().string(from: claims.issuedAt), refresh_token: refreshToken,
            scope: granted.map { "\($0.type):\($0.name):\($0.actions.joined(separator: ","))" }.joined(separator: " "))
        let json = try JSONEncoder().encode(body)
        var headers = DistributionAPI.jsonHeaders(length: json.count)
        headers[.cacheControl] = "no-store"
        return (
            Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: json))),
            Caller(identity: identity, auth: auth, grants: granted, policy: gate.policy)
        )
    }

    /// The part of a requested scope the policy allows; nil when nothing is.
    private func grant(_ requested: ResourceAccess, to identity: Identity) -> ResourceAccess? {
        if requested == .catalog { return .catalog }  // the catalog lists only what the caller may pull
        guard let role = gate.policy.role(of: identity, in: requested.name) else { return nil }
        let actions = requested.actions.filter { action in Role(action: action).map { $0 <= role } ?? false }
        return actions.isEmpty ? nil : ResourceAccess(type: requested.type, name: requested.name, actions: actions)
    }

    private struct Answer: Encodable {
        let token: String
        let access_token: String
        let expires_in: Int
        let issued_at: String
        let refresh_token: String?
        let scope: String
    }

    /// `application/x-www-form-urlencoded`, keeping repeated keys.
    static func parseForm(_ text: String) -> [String: [String]] {
        var form = [String: [String]]()
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String {
                part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(part)
            }
            form[decode(parts[0]), default: []].append(parts.count > 1 ? decode(parts[1]) : "")
        }
        return form
    }
}
