import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization
import WharfCore

/// A client of one remote OCI registry (a Wharf, Distribution, any registry that speaks the distribution API), over
/// async-http-client. It answers the challenges of the Docker token spec itself (Basic, or a Bearer token fetched
/// from the realm with the remote's credentials and cached per scope until it expires). Bodies are streamed both
/// ways; nothing here holds a blob in memory.
final class RegistryClient: Sendable {
    let remote: Remote
    private let http: HTTPClient
    /// Sent on every write, so that the remote's own rules do not send the copy back here.
    let origin: String
    private let auth = Mutex(AuthState())
    /// The remote's `Wharf-Instance`, once seen: a Wharf that names it as the origin of a change is that remote.
    let remoteInstance = Mutex<String?>(nil)

    static let manifestTypes = [
        MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList,
    ].joined(separator: ", ")
    static let maxManifestBytes = 4 << 20

    private struct AuthState {
        enum Scheme {
            case none, basic
            case bearer(realm: String, service: String?)
        }
        var scheme: Scheme?
        var tokens: [String: (token: String, expires: Double)] = [:]
    }

    /// Made only once the rule is known to be good: a client must be shut down before it goes away.
    init(remote: Remote, origin: String, configuration: HTTPClient.Configuration) {
        self.remote = remote
        self.origin = origin
        http = HTTPClient(eventLoopGroupProvider: .shared(BackgroundThreads.shared.group), configuration: configuration)
    }

    /// The HTTP client's settings for `remote`: its TLS trust (a CA file that does not read is refused here).
    static func configuration(for remote: Remote) throws -> HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .follow(max: 5, allowCycles: false),
            timeout: .init(connect: .seconds(10), read: .seconds(120)))
        // A refused connection fails the attempt at once: the queue retries with its own backoff, and holds the
        // rule's other tasks meanwhile, rather than each request waiting out the connect timeout.
        configuration.connectionPool.retryConnectionEstablishment = false
        if remote.url.hasPrefix("https://") {
            var tls = TLSConfiguration.makeClientConfiguration()
            if remote.insecure { tls.certificateVerification = .none }
            if let caFile = remote.caFile {
                do {
                    tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
                } catch {
                    throw RuleError(field: "remote.caFile", "cannot read \(caFile): \(error)")
                }
            }
            configuration.tlsConfiguration = tls
        }
        return configuration
    }

    func shutdown() async throws { try await http.shutdown() }

    // MARK: Requests

    /// One request with the credentials the remote asks for. A body that can be sent again (`replayable`) is, once,
    /// after a 401 that a fresh token answers; a streamed body cannot, so its scopes are authorized first.
    func send(
        _ method: HTTPMethod, _ target: String, scopes: [String], headers: HTTPHeaders = [:],
        body: HTTPClientRequest.Body? = nil, replayable: Bool = true, timeout: TimeAmount = .seconds(120)
    ) async throws -> HTTPClientResponse {
        if !replayable { try await authorize(scopes) }
        var attempt = 0
        while true {
            var request = HTTPClientRequest(url: target.hasPrefix("http") ? target : remote.url + target)
            request.method = method
            request.headers = headers
            request.headers.replaceOrAdd(name: "User-Agent", value: "wharf-replication")
            if method != .GET && method != .HEAD { request.headers.replaceOrAdd(name: "Wharf-Replication-Origin", value: origin) }
            if let authorization = try await authorization(scopes) {
                request.headers.replaceOrAdd(name: "Authorization", value: authorization)
            }
            request.body = body
            let response: HTTPClientResponse
            do {
                response = try await http.execute(request, timeout: timeout)
            } catch {
                throw RemoteError.unreachable(remote.url, error)
            }
            if let instance = response.headers.first(name: "Wharf-Instance") { remoteInstance.withLock { $0 = instance } }
            if response.status != .unauthorized {
                auth.withLock { state in if state.scheme == nil { state.scheme = AuthState.Scheme.none } }
            }
            guard response.status == .unauthorized, attempt == 0, replayable || body == nil else { return response }
            attempt += 1
            let challenge = response.headers.first(name: "WWW-Authenticate") ?? ""
            _ = try? await response.body.collect(upTo: 64 << 10)
            learn(challenge, dropping: scopes)
        }
    }

    /// A response's body up to `limit` bytes, and a `RemoteError` for any status but the expected ones.
    func expect(_ response: HTTPClientResponse, _ statuses: Set<UInt>, limit: Int = 1 << 20, what: String) async throws
        -> ByteBuffer
    {
        let body = try await response.body.collect(upTo: limit)
        guard statuses.contains(response.status.code) else {
            throw RemoteError.refused(status: Int(response.status.code), body: body, what: what)
        }
        return body
    }

    /// Learns how the remote authenticates, and fetches tokens for `scopes`, before a body that cannot be sent twice.
    private func authorize(_ scopes: [String]) async throws {
        if auth.withLock({ $0.scheme }) == nil {
            let response = try await send(.GET, "/v2/", scopes: [])
            _ = try? await response.body.collect(upTo: 64 << 10)
        }
        _ = try await authorization(scopes)
    }

    /// The Authorization header for `scopes`, fetching a token when the remote wants Bearer and none is cached.
    private func authorization(_ scopes: [String]) async throws -> String? {
        let (scheme, cached) = auth.withLock { state -> (AuthState.Scheme?, String?) in
            let key = scopes.sorted().joined(separator: " ")
            guard let entry = state.tokens[key], entry.expires > Date().timeIntervalSince1970 else { return (state.scheme, nil) }
            return (state.scheme, entry.token)
        }
        switch scheme {
        case .some(.none), nil: return nil
        case .basic: return basicCredentials()
        case .bearer(let realm, let service):
            if let cached { return "Bearer " + cached }
            return "Bearer " + (try await fetchToken(realm: realm, service: service, scopes: scopes))
        }
    }

    private func basicCredentials() -> String? {
        guard let username = remote.username, let password = remote.password else { return nil }
        return "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
    }

    /// Remembers a challenge's scheme; a Bearer challenge also drops the cached token for `scopes` (it was refused).
    private func learn(_ challenge: String, dropping scopes: [String]) {
        let parameters = Self.challengeParameters(challenge)
        auth.withLock { state in
            if challenge.lowercased().hasPrefix("bearer"), let realm = parameters["realm"] {
                state.scheme = .bearer(realm: realm, service: parameters["service"])
                state.tokens[scopes.sorted().joined(separator: " ")] = nil
            } else if challenge.lowercased().hasPrefix("basic") {
                state.scheme = .basic
            }
        }
    }

    private func fetchToken(realm: String, service: String?, scopes: [String]) async throws -> String {
        var components = URLComponents(string: realm)
        let existing = components?.queryItems ?? []
        components?.queryItems =
            existing + (service.map { [URLQueryItem(name: "service", value: $0)] } ?? [])
            + scopes.map { URLQueryItem(name: "scope", value: $0) }
        guard let url = components?.url?.absoluteString else { throw RemoteError.protocolError("invalid token realm '\(realm)'") }
        var request = HTTPClientRequest(url: url)
        if let basic = basicCredentials() { request.headers.add(name: "Authorization", value: basic) }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .seconds(30))
        } catch {
            throw RemoteError.unreachable(realm, error)
        }
        let body = try await expect(response, [200], what: "token from \(realm)")
        struct Answer: Decodable {
            let token: String?
            let access_token: String?
            let expires_in: Int?
        }
        guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(body.readableBytesView)),
            let token = answer.token ?? answer.access_token
        else { throw RemoteError.protocolError("the token endpoint \(realm) answered without a token") }
        // Refreshed a little early, so that a token does not expire in the middle of a request.
        let expires = Date().timeIntervalSince1970 + Double(max((answer.expires_in ?? 60) - 10, 5))
        auth.withLock { $0.tokens[scopes.sorted().joined(separator: " ")] = (token, expires) }
        return token
    }

    /// `Bearer realm="…",service="…",scope="…"` → its parameters.
    static func challengeParameters(_ challenge: String) -> [String: String] {
        var parameters = [String: String]()
        let rest = challenge.drop { $0 != " " }
        let pattern = /([A-Za-z_]+)="([^"]*)"/
        for match in rest.matches(of: pattern) { parameters[String(match.1).lowercased()] = String(match.2) }
        return parameters
    }

    // MARK: Scopes

    static func pull(_ repository: String) -> String { "repository:\(repository):pull" }
    static func push(_ repository: String) -> String { "repository:\(repository):pull,push" }
    static func delete(_ repository: String) -> String { "repository:\(repository):delete" }
}

/// What went wrong talking to a remote, with its error code and message when it answered.
struct RemoteError: Error, CustomStringConvertible {
    let status: Int?
    let description: String

    /// A retry cannot help: refused credentials or rights, content the remote does not have or will not take.
    var isPermanent: Bool {
        guard let status else { return false }
        return [400, 401, 403, 404, 405, 413].contains(status)
    }

    static func unreachable(_ url: String, _ error: any Error) -> RemoteError {
        RemoteError(status: nil, description: "cannot reach \(url): \(error)")
    }

    static func protocolError(_ message: String) -> RemoteError { RemoteError(status: nil, description: message) }

    static func refused(status: Int, body: ByteBuffer, what: String) -> RemoteError {
        struct Errors: Decodable {
            struct Entry: Decodable {
                let code: String
                let message: String?
            }
            let errors: [Entry]
        }
        let detail =
            (try? JSONDecoder().decode(Errors.self, from: Data(body.readableBytesView)))?.errors.first.map {
                "\($0.code): \($0.message ?? "")"
            } ?? String(buffer: body).prefix(200).description
        return RemoteError(status: status, description: "\(what): \(status) \(detail)")
    }
}
