import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import WharfAudit
import WharfCore
import WharfStorage

/// The server's responder: the distribution API under `/v2/`, the management API under `/api/v1/`, health and
/// metrics beside them. Every error leaves here as an OCI JSON error body, and every request is counted by route
/// and status, and, unless auditing is off, recorded in the audit log.
struct WharfResponder: HTTPResponder {
    typealias Context = WharfRequestContext
    let api: DistributionAPI
    let admin: AdminAPI
    /// nil when auditing is off.
    let audit: RequestAudit?
    let logger: Logger

    func respond(to request: Request, context: Context) async throws -> Response {
        let start = ContinuousClock.now
        let arrived = AuditTime.nowMillis()
        let tally = RequestTally()
        let path = request.uri.path
        var route: V2Route?
        var errorCode: String?
        var response: Response
        do {
            route = try V2Route.parse(path)
            if let audit, RequestAudit.isWrite(request.method) {
                // A write whose record could not be kept is refused before it changes anything.
                guard audit.log.isWritable else { throw RequestAudit.unavailable }
                // The bodies the routes read count into the tally (reads have none).
                response = try await RequestTally.$current.withValue(tally) { try await handle(request, route: route) }
            } else {
                response = try await handle(request, route: route)
            }
        } catch let error as RegistryError {
            if error.httpStatus >= 500 {
                logger.error("request failed", metadata: ["path": "\(path)", "error": "\(error)"])
            }
            errorCode = error.code.rawValue
            response = error.response(includeBody: request.method != .head)
        } catch {
            logger.error("request failed", metadata: ["path": "\(path)", "error": "\(error)"])
            errorCode = RegistryError.Code.internalError.rawValue
            response = RegistryError.internalError("\(error)").response(includeBody: request.method != .head)
        }
        response.headers[.dockerDistributionAPIVersion] = "registry/2.0"
        api.metrics.recordRequest(
            route: route?.name ?? "other", method: request.method.rawValue, status: response.status.code,
            duration: ContinuousClock.now - start)
        guard let audit, RequestAudit.isRecorded(path) else { return response }
        let event = audit.begin(request, path: path, route: route, peer: context.remoteAddress, time: arrived)
        response.headers[.requestID] = event.id
        return await audit.finish(
            event, method: request.method, response: response, errorCode: errorCode, tally: tally, start: start)
    }

    private func handle(_ request: Request, route: V2Route?) async throws -> Response {
        if let route { try await api.respond(to: request, route: route) } else { try await other(request) }
    }

    private func other(_ request: Request) async throws -> Response {
        if let response = try await admin.respond(to: request) { return response }
        if let audit, let response = try await AuditAPI(log: audit.log).respond(to: request) { return response }
        switch (request.uri.path, request.method) {
        case ("/healthz", .get), ("/healthz", .head):
            return Self.text("ok\n")
        case ("/readyz", .get), ("/readyz", .head):
            _ = try await api.registry.blobStatistics()  // the metadata store answers
            return Self.text("ready\n")
        case ("/metrics", .get):
            return Self.text(try await api.metrics.render(api.registry), contentType: "text/plain; version=0.0.4")
        default:
            throw RegistryError(.unsupported, status: 404, "no such endpoint", detail: String(request.uri.path.prefix(200)))
        }
    }

    private static func text(_ string: String, contentType: String = "text/plain; charset=utf-8") -> Response {
        Response(status: .ok, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(string: string)))
    }
}
