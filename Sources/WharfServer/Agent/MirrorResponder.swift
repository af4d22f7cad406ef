import AsyncHTTPClient
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import Synchronization
import WharfCore
import WharfP2P

/// The agent's face to its node's container engine: a read-only registry mirror of the origin. Blobs come through
/// the agent's pieces; manifests, tags and everything else pass through to the origin with the client's own
/// credentials (and so its own challenges), and manifests are kept by digest. `/metrics` shows the agent's counters.
struct MirrorResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let agent: Agent
    let manifests = ManifestCache()
    static let maxManifestBytes = 4 << 20

    /// Request headers the origin needs to answer as it would answer the client.
    private static let forwarded: [HTTPField.Name] = [.authorization, .accept, .range, .ifNoneMatch, .ifMatch]
    private static let hopByHop: Set<String> = ["connection", "keep-alive", "transfer-encoding", "upgrade", "te", "trailer"]

    func respond(to request: Request, context: Context) async throws -> Response {
        do {
            return try await answer(request)
        } catch let error as RegistryError {
            return error.response(includeBody: request.method != .head)
        } catch {
            agent.logger.warning("mirror request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            return RegistryError(.internalError, status: 502, "the origin cannot be reached", detail: "\(error)")
                .response(includeBody: request.method != .head)
        }
    }

    private func answer(_ request: Request) async throws -> Response {
        let path = request.uri.path
        if path == "/metrics" {
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: .init(byteBuffer: ByteBuffer(string: agent.stats.render(cacheBytes: agent.cache.usedBytes))))
        }
        if path == "/healthz" { return Response(status: .ok) }
        guard let route = try V2Route.parse(path) else { throw RegistryError(.unsupported, status: 404, "not found") }
        // containerd names the registry it means; the agent fronts one, and a 404 sends containerd to the others.
        if let namespace = request.uri.queryParameters["ns"], namespace.lowercased() != agent.settings.originHost {
            throw RegistryError(.nameUnknown, status: 404, "this mirror does not front \(namespace)")
        }
        guard request.method == .get || request.method == .head else {
            throw RegistryError(.unsupported, status: 405, "the agent is a pull-only mirror: push to the origin")
        }
        switch route {
        case .blob(let name, let digest) where request.method == .get && request.headers[.range] == nil:
            return try await blob(request, repository: name.value, digest: try Digest(digest))
        case .manifest(_, let reference):
            return try await manifest(request, reference: reference)
        default:
            return try await passThrough(request)
        }
    }

    private func blob(_ request: Request, repository: String, digest: Digest) async throws -> Response {
        let authorization = request.headers[.authorization]
        switch await agent.blob(repository: repository, digest: digest, authorization: authorization) {
        case .refused(let answer):
            var headers = HTTPFields()
            for (name, value) in answer.headers {
                if let name = HTTPField.Name(name) { headers.append(.init(name: name, value: value)) }
            }
            return Response(
                status: .init(code: Int(answer.status)), headers: headers, body: .init(byteBuffer: answer.body))
        case .direct:
            return try await passThrough(request, counting: agent.stats)
        case .pieces(let fetch, let list):
            let stream = try agent.stream(fetch, list)
            return Response(
                status: .ok,
                headers: [
                    .contentType: "application/octet-stream", .contentLength: String(list.size),
                    .dockerContentDigest: list.digest, .eTag: "\"\(list.digest)\"",
                ],
                body: ResponseBody(contentLength: Int(list.size)) { writer in
                    for try await chunk in stream { try await writer.write(chunk) }
                    try await writer.finish(nil)
                })
        }
    }

    /// A manifest by digest comes from the agent's copy once the origin said this client may have it (a HEAD);
    /// any other is fetched, and kept by its digest.
    private func manifest(_ request: Request, reference: String) async throws -> Response {
        if request.method == .get, reference.contains(":"), let kept = manifests.manifest(reference) {
            let check = try await origin(request, method: .HEAD)
            _ = try? await check.body.collect(upTo: 64 << 10)
            if check.status == .ok {
                return Response(
                    status: .ok,
                    headers: [
                        .contentType: kept.mediaType, .contentLength: String(kept.bytes.count),
                        .dockerContentDigest: reference,
                    ], body: .init(byteBuffer: ByteBuffer(bytes: kept.bytes)))
            }
            return Response(status: .init(code: Int(check.status.code)), headers: Self.headers(of: check))
        }
        let response = try await origin(request, method: request.method == .head ? .HEAD : .GET)
        guard request.method == .get, response.status == .ok else { return stream(response, head: request.method == .head) }
        let bytes = try await response.body.collect(upTo: Self.maxManifestBytes)
        let body = Array(bytes.readableBytesView)
        let digest = Digest.of(body).description
        if response.headers.first(name: "Docker-Content-Digest").map({ $0 == digest }) ?? true {
            manifests.keep(
                .init(bytes: body, mediaType: response.headers.first(name: "Content-Type") ?? MediaType.ociManifest),
                as: digest)
        }
        return Response(status: .ok, headers: Self.headers(of: response), body: .init(byteBuffer: bytes))
    }

    private func passThrough(_ request: Request, counting stats: AgentStats? = nil) async throws -> Response {
        let response = try await origin(request, method: request.method == .head ? .HEAD : .GET)
        return stream(response, head: request.method == .head, counting: stats)
    }

    /// The client's request, sent on to the origin with the headers that matter (never `?ns=`).
    private func origin(_ request: Request, method: HTTPMethod) async throws -> HTTPClientResponse {
        var headers = HTTPHeaders()
        for name in Self.forwarded {
            for value in request.headers[values: name] { headers.add(name: name.rawName, value: value) }
        }
        var query = request.uri.queryParameters.filter { $0.key != "ns" }
            .map { "\(OriginClient.escaped(String($0.key)))=\(OriginClient.escaped(String($0.value)))" }
            .joined(separator: "&")
        if !query.isEmpty { query = "?" + query }
        return try await agent.client.send(
            method, agent.settings.origin + request.uri.path + query, headers: headers, timeout: .minutes(30))
    }

    private func stream(_ response: HTTPClientResponse, head: Bool, counting stats: AgentStats? = nil) -> Response {
        let headers = Self.headers(of: response)
        let status = HTTPResponse.Status(code: Int(response.status.code))
        if head { return Response(status: status, headers: headers) }
        let length = response.headers.first(name: "Content-Length").flatMap(Int.init)
        return Response(
            status: status, headers: headers,
            body: ResponseBody(contentLength: length) { writer in
                for try await chunk in response.body {
                    stats?.originBytes.add(Int64(chunk.readableBytes), ordering: .relaxed)
                    try await writer.write(chunk)
                }
                try await writer.finish(nil)
            })
    }

    private static func headers(of response: HTTPClientResponse) -> HTTPFields {
        var headers = HTTPFields()
        for (name, value) in response.headers where !hopByHop.contains(name.lowercased()) {
            if let name = HTTPField.Name(name) { headers.append(HTTPField(name: name, value: value)) }
        }
        return headers
    }
}
