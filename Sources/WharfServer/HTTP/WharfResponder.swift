import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import WharfAudit
import WharfAuth
import WharfConsole
import WharfCore
import WharfReplication
import WharfStorage

/// The server's responder: the distribution API under `/v2/`, the management API under `/api/v1/`, the token
/// endpoint, health and metrics beside them. Every request passes the gate (when access control is on); every
/// error leaves here as an OCI JSON error body; every request is counted by route and status and, unless
/// auditing is off, recorded in the audit log.
struct WharfResponder: HTTPResponder {
    typealias Context = WharfRequestContext
    let api: DistributionAPI
    let replication: ReplicationAPI
    let p2p: P2PAPI
    let admin: AdminAPI
    /// nil when the web console is off.
    let console: ConsoleAPI?
    /// nil when auditing is off.
    let audit: RequestAudit?
    /// nil when access control is off.
    let gate: Gatekeeper?
    /// nil unless token authentication is on.
    let tokenEndpoint: TokenEndpoint?
    let proxies: TrustedProxies
    /// `http` or `https`: this listener's, for the token realm.
    let scheme: String
    let logger: Logger

    func respond(to request: Request, context: Context) async throws -> Response {
        var request = request
        if request.headers[.expect] != nil {
            request.body = RequestBody(asyncSequence: ContinueOnFirstRead(base: request.body, channel: context.channel))
        }
        let start = ContinuousClock.now
        let arrived = AuditTime.nowMillis()
        let tally = RequestTally()
        let path = request.uri.path
        var route: V2Route?
        var helm: HelmRoute?
        var errorCode: String?
        var response: Response
        var caller = Caller.unrestricted
        var denialDetail: String?
        var consoleOutcome: ConsoleAPI.Outcome?
        var metadataSync: DeferredSync?
        let client =
            audit != nil || gate != nil
            ? proxies.client(
                peer: context.remoteAddress?.text ?? "-",
                forwardedFor: request.headers[.xForwardedFor]) : "-"
        do {
            route = try V2Route.parse(path)
            helm = route == nil ? try HelmRoute.parse(path) : nil
            // The methods of an endpoint are no secret: a wrong one is answered before access control.
            let methods =
                route?.methods ?? helm?.methods ?? ServerEndpoint.match(path).map(\.endpoint.methods)
            if let methods, !methods.contains(request.method) { throw MethodNotAllowed(allowed: methods) }
            if let console, route == nil, helm == nil, console.serves(path) {
                // The console signs its visitors in itself, with a session cookie.
                if let audit, RequestAudit.isWrite(request.method) {
                    guard await audit.log.canWrite() else { throw RequestAudit.unavailable }
                }
                let outcome = try await console.respond(to: request, client: client, scheme: scheme)
                (response, caller, consoleOutcome) = (outcome.response, outcome.caller, outcome)
            } else if let tokenEndpoint, route == nil, path == TokenEndpoint.path {
                (response, caller) = try await tokenEndpoint.respond(to: request, client: client, scheme: scheme)
            } else {
                if let gate {
                    caller = try await gate.admit(
                        request,
                        requirement: AccessRequirement(
                            route: route, method: request.method, path: path,
                            repository: request.uri.queryParameters["repository"].map(String.init)),
                        client: client, scheme: scheme)
                }
                if route != nil || helm != nil, RequestAudit.isWrite(request.method) {
                    replication.service?.clientWrites.note()
                }
                if let audit, RequestAudit.isWrite(request.method) {
                    // A write whose record could not be kept is refused before it changes anything.
                    guard await audit.log.canWrite() else { throw RequestAudit.unavailable }
                    // The bodies the routes read count into the tally (reads have none). A manifest or tag write's
                    // metadata sync is waited for with its audit record (`finish`).
                    if case .manifest = route { metadataSync = DeferredSync() }
                    response = try await RequestTally.$current.withValue(tally) { [caller, helm, metadataSync] in
                        try await DeferredSync.$current.withValue(metadataSync) {
                            try await handle(request, route: route, helm: helm, caller: caller)
                        }
                    }
                } else {
                    response = try await handle(request, route: route, helm: helm, caller: caller)
                }
            }
        } catch let denial as AuthDenial {
            errorCode = denial.error.code.rawValue
            denialDetail = denial.detail
            if let refused = denial.caller { caller = refused }
            response = denial.error.response(includeBody: request.method != .head)
            response.headers.append(contentsOf: denial.headers)
        } catch let refusal as MethodNotAllowed {
            errorCode = refusal.error.code.rawValue
            response = refusal.response(includeBody: request.method != .head)
        } catch let error as RegistryError {
            if error.httpStatus >= 500 {
                logger.error("request failed", metadata: ["path": "\(path)", "error": "\(error)"])
            }
            errorCode = error.code.rawValue
            response =
                HelmRoute.isChartMuseumAPI(path)
                ? error.chartMuseumResponse(includeBody: request.method != .head)
                : error.response(includeBody: request.method != .head)
        } catch let error as HTTPParserError {
            // The body ended before its length, or its chunked framing is broken: the client's fault, and nothing of
            // it was kept (an upload stays where it stood).
            let refusal = Self.brokenBody(error, route: route)
            errorCode = refusal.code.rawValue
            response = refusal.response(includeBody: request.method != .head)
        } catch {
            logger.error("request failed", metadata: ["path": "\(path)", "error": "\(error)"])
            errorCode = RegistryError.Code.internalError.rawValue
            response = RegistryError.internalError("\(error)").response(includeBody: request.method != .head)
        }
        response.headers[.dockerDistributionAPIVersion] = "registry/2.0"
        response.headers[.wharfInstance] = api.instance
        api.metrics.recordRequest(
            route: route?.name ?? "other", method: request.method.rawValue, status: response.status.code,
            duration: ContinuousClock.now - start)
        guard let audit, RequestAudit.isRecorded(path) else { return response }
        var event = audit.begin(
            request, path: path, route: route, helm: helm, client: client, caller: caller, time: arrived)
        if let denialDetail { event.detail = denialDetail }
        if let consoleOutcome {
            event.action = consoleOutcome.action.rawValue
            event.repository = consoleOutcome.repository
            event.tag = consoleOutcome.tag
            event.digest = consoleOutcome.digest
        }
        response.headers[.requestID] = event.id
        return await audit.finish(
            event, method: request.method, durable: RequestAudit.isDurable(request, route: route), response: response,
            errorCode: errorCode, tally: tally, start: start, metadata: metadataSync)
    }

    private static func brokenBody(_ error: HTTPParserError, route: V2Route?) -> RegistryError {
        let message = "the request body is incomplete or malformed (\(error)); nothing of it was stored"
        return switch route {
        case .manifest: RegistryError.manifestInvalid(message)
        case .uploads, .upload: RegistryError.blobUploadInvalid(message)
        default: RegistryError(.unsupported, status: 400, message)
        }
    }

    private func handle(_ request: Request, route: V2Route?, helm: HelmRoute?, caller: Caller) async throws -> Response {
        if let route {
            try await api.respond(to: request, route: route, caller: caller)
        } else if let helm {
            try await HelmAPI(api: api).respond(to: request, route: helm, caller: caller)
        } else {
            try await other(request, caller: caller)
        }
    }

    private func other(_ request: Request, caller: Caller) async throws -> Response {
        guard let (endpoint, parameter) = ServerEndpoint.match(request.uri.path), isServed(endpoint) else {
            throw RegistryError(.unsupported, status: 404, "no such endpoint", detail: String(request.uri.path.prefix(200)))
        }
        if let response = try await admin.respond(to: request, endpoint: endpoint, parameter: parameter) { return response }
        if let response = try await replication.respond(to: request, endpoint: endpoint, parameter: parameter) {
            return response
        }
        if let response = try await p2p.respond(to: request, endpoint: endpoint, caller: caller) { return response }
        if let response = try await BrowseAPI(browser: RegistryBrowser(registry: api.registry)).respond(
            to: request, endpoint: endpoint, caller: caller)
        {
            return response
        }
        switch endpoint {
        case .audit:
            return try await AuditAPI(log: audit!.log).respond(to: request)
        case .chartSearch:
            return try await HelmAPI(api: api).search(request, caller: caller)
        case .health:
            return Self.text("ok\n")
        case .readiness:
            do {
                _ = try await api.registry.blobStatistics()  // the metadata store answers
            } catch {
                throw RegistryError(.internalError, status: 503, "not ready: the metadata store does not answer")
            }
            return Self.text("ready\n")
        case .metrics:
            if let statuses = try? await replication.service?.status() { api.metrics.renderReplication(statuses) }
            return Self.text(try await api.metrics.render(api.registry), contentType: "text/plain; version=0.0.4")
        default:
            throw RegistryError(.unsupported, status: 404, "no such endpoint", detail: String(request.uri.path.prefix(200)))
        }
    }

    /// The audit API needs the audit log; the token endpoint, token authentication.
    private func isServed(_ endpoint: ServerEndpoint) -> Bool {
        switch endpoint {
        case .audit: audit != nil
        case .token: tokenEndpoint != nil
        default: true
        }
    }

    private static func text(_ string: String, contentType: String = "text/plain; charset=utf-8") -> Response {
        Response(status: .ok, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(string: string)))
    }
}
