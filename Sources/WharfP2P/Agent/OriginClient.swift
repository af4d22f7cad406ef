import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1
import NIOSSL
import WharfCore

/// The agent's one HTTP client, for the origin, the tracker and the other agents (async-http-client). Requests made
/// for a client carry that client's own `Authorization`; none is ever stored beyond the fetch it started.
package final class OriginClient: Sendable {
    package struct Failure: Error, CustomStringConvertible {
        package let status: UInt
        package let description: String
    }

    let settings: AgentSettings
    let agentID: String
    private let http: HTTPClient

    package init(settings: AgentSettings, agentID: String) throws {
        self.settings = settings
        self.agentID = agentID
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: .seconds(60)))
        configuration.connectionPool.retryConnectionEstablishment = false
        var tls = TLSConfiguration.makeClientConfiguration()
        if settings.insecure { tls.certificateVerification = .none }
        if let caFile = settings.caFile { tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile)) }
        configuration.tlsConfiguration = tls
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    package func shutdown() async throws { try await http.shutdown() }

    /// A request to `url` with `headers`, its response streamed: the mirror's pass-through, and every call below.
    package func send(
        _ method: HTTPMethod, _ url: String, headers: HTTPHeaders = [:], body: ByteBuffer? = nil,
        timeout: TimeAmount = .seconds(60)
    ) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers = headers
        request.headers.replaceOrAdd(name: "User-Agent", value: "wharf-agent")
        // The origin counts what it sends to agents by this header.
        request.headers.replaceOrAdd(name: "Wharf-P2P-Agent", value: agentID)
        if let body { request.body = .bytes(body) }
        return try await http.execute(request, timeout: timeout)
    }

    // MARK: The tracker

    /// The registry's P2P public key (PEM).
    package func publicKey() async throws -> String {
        struct Key: Decodable {
            let publicKey: String
        }
        return try await json(Key.self, from: send(.GET, settings.tracker + "/p2p/v1/key")).publicKey
    }

    /// The blob's signed piece list and a piece token, asked with the client's credentials; the tracker's own answer
    /// (a 401 with its challenge, a 403, a 404) when it refuses.
    package func grant(repository: String, digest: String, authorization: String?) async throws -> Result<
        PieceGrant, RefusedAnswer
    > {
        var headers = HTTPHeaders()
        if let authorization { headers.add(name: "Authorization", value: authorization) }
        let query = "repository=\(Self.escaped(repository))&digest=\(Self.escaped(digest))"
        let response = try await send(.GET, settings.tracker + "/p2p/v1/pieces?" + query, headers: headers)
        if response.status == .ok { return .success(try await json(PieceGrant.self, from: response)) }
        return .failure(try await RefusedAnswer(response))
    }

    package func announce(_ announcement: Announcement) async throws {
        let response = try await send(
            .POST, settings.tracker + "/p2p/v1/announce", headers: ["Content-Type": "application/json"],
            body: ByteBuffer(data: try JSONEncoder().encode(announcement)), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 64 << 10)
        guard response.status == .noContent || response.status == .ok else {
            throw Failure(status: response.status.code, description: "announce: \(String(buffer: body))")
        }
    }

    package func plan(_ asked: PeersRequest) async throws -> PeerPlan {
        let response = try await send(
            .POST, settings.tracker + "/p2p/v1/peers", headers: ["Content-Type": "application/json"],
            body: ByteBuffer(data: try JSONEncoder().encode(asked)), timeout: .seconds(10))
        return try await json(PeerPlan.self, from: response)
    }

    /// The origin's preheat list after job `id`, as the seeder's own credentials may see it.
    package func preheatJobs(after id: Int, authorization: String?) async throws -> [PreheatJob] {
        var headers = HTTPHeaders()
        if let authorization { headers.add(name: "Authorization", value: authorization) }
        return try await json(
            [PreheatJob].self, from: send(.GET, settings.tracker + "/p2p/v1/preheat?after=\(id)", headers: headers))
    }

    // MARK: Pieces

    /// Bytes `range` of a blob from the origin, with the client's credentials (a Range GET).
    package func originRange(
        repository: String, digest: String, range: Range<Int64>, authorization: String?
    ) async throws -> ByteBuffer {
        var headers: HTTPHeaders = ["Range": "bytes=\(range.lowerBound)-\(range.upperBound - 1)"]
        if let authorization { headers.add(name: "Authorization", value: authorization) }
        let response = try await send(
            .GET, settings.origin + "/v2/\(repository)/blobs/\(digest)", headers: headers, timeout: .seconds(120))
        return try await expectPiece(response, .partialContent, count: Int64(range.count), from: "the origin")
    }

    /// Piece `index` of `digest` from the agent at `address`, against the piece token.
    package func peerPiece(address: String, digest: String, index: Int, count: Int64, token: String) async throws
        -> ByteBuffer
    {
        let response = try await send(
            .GET, address + "/p2p/v1/blobs/\(digest)/pieces/\(index)", headers: ["Authorization": "Bearer \(token)"],
            timeout: .seconds(30))
        return try await expectPiece(response, .ok, count: count, from: address)
    }

    private func expectPiece(
        _ response: HTTPClientResponse, _ expected: HTTPResponseStatus, count: Int64, from source: String
    ) async throws -> ByteBuffer {
        guard response.status == expected else {
            let body = try? await response.body.collect(upTo: 64 << 10)
            throw Failure(
                status: response.status.code,
                description: "\(source) answered \(response.status.code): \(body.map { String(buffer: $0) } ?? "")")
        }
        // One piece, never more: a peer that sends more than it should is cut off here.
        return try await response.body.collect(upTo: Int(count))
    }

    private func json<T: Decodable>(_ type: T.Type, from response: HTTPClientResponse) async throws -> T {
        let body = try await response.body.collect(upTo: 64 << 20)
        guard response.status == .ok else {
            throw Failure(status: response.status.code, description: "the tracker answered \(response.status.code)")
        }
        return try JSONDecoder().decode(T.self, from: Data(buffer: body))
    }

    package static func escaped(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }
}

/// A refusal that goes back to the client as it came: status, the headers that matter, and the (small) body.
package struct RefusedAnswer: Error, Sendable {
    package let status: UInt
    package let headers: [(String, String)]
    package let body: ByteBuffer

    init(_ response: HTTPClientResponse) async throws {
        status = response.status.code
        headers = response.headers.filter { ["www-authenticate", "content-type"].contains($0.name.lowercased()) }
        body = try await response.body.collect(upTo: 1 << 20)
    }
}
