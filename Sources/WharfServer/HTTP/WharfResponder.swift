import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import WharfCore
import WharfStorage

/// The server's responder: the distribution API under `/v2/`, health and metrics beside it. Every error leaves
/// here as an OCI JSON error body, and every request is counted by route and status.
struct WharfResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let api: DistributionAPI
    let gcGrace: Duration
    let logger: Logger

    func respond(to request: Request, context: Context) async throws -> Response {
        let start = ContinuousClock.now
        var routeName = "other"
        var response: Response
        do {
            if let route = try V2Route.parse(request.uri.path) {
                routeName = route.name
                response = try await api.respond(to: request, route: route)
            } else {
                response = try await other(request)
            }
        } catch let error as RegistryError {
            if error.httpStatus >= 500 {
                logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            }
            response = error.response(includeBody: request.method != .head)
        } catch {
            logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            response = RegistryError.internalError("\(error)").response(includeBody: request.method != .head)
        }
        response.headers[.dockerDistributionAPIVersion] = "registry/2.0"
        api.metrics.recordRequest(
            route: routeName, method: request.method.rawValue, status: response.status.code,
            duration: ContinuousClock.now - start)
        return response
    }

    private func other(_ request: Request) async throws -> Response {
        switch (request.uri.path, request.method) {
        case ("/healthz", .get), ("/healthz", .head):
            return Self.text("ok\n")
        case ("/readyz", .get), ("/readyz", .head):
            _ = try await api.registry.blobStatistics()  // the metadata store answers
            return Self.text("ready\n")
        case ("/metrics", .get):
            return Self.text(try await api.metrics.render(api.registry), contentType: "text/plain; version=0.0.4")
        case ("/api/v1/gc", .post):
            // On demand garbage collection; `?dryRun=true` only reports. (Admin-only once access control exists.)
            let dryRun = ["true", "1"].contains(request.uri.queryParameters["dryRun"].map(String.init) ?? "")
            let report = try await api.registry.collectGarbage(grace: gcGrace, dryRun: dryRun)
            api.metrics.recordGarbageCollection(report)
            let json = try JSONEncoder().encode(report)
            return Response(
                status: .ok, headers: DistributionAPI.jsonHeaders(length: json.count),
                body: .init(byteBuffer: ByteBuffer(bytes: json)))
        default:
            throw RegistryError(.unsupported, status: 404, "no such endpoint", detail: String(request.uri.path.prefix(200)))
        }
    }

    private static func text(_ string: String, contentType: String = "text/plain; charset=utf-8") -> Response {
        Response(status: .ok, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(string: string)))
    }
}
