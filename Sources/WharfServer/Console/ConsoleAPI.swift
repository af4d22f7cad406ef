import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import WharfAudit
import WharfAuth
import WharfConsole
import WharfCore
import WharfP2P
import WharfReplication
import WharfStorage

/// The web console under `ui.path` (`/ui` by default): server-rendered pages over the same services the APIs use.
///
///     GET  /ui/                                            the overview (administrators), else the repositories
///     GET  /ui/login, POST /ui/login, POST /ui/logout      sign-in with a user or robot, sign-out
///     GET  /ui/repositories?q=&last=                       repositories the viewer may pull
///     GET  /ui/repositories/<name>?last=                   a repository's tags
///     GET  /ui/repositories/<name>/-/manifests/<digest>    a manifest, its parts and referrers
///     GET|POST /ui/repositories/<name>/-/tags/<tag>/delete           confirm, then delete a tag
///     GET|POST /ui/repositories/<name>/-/manifests/<digest>/delete   confirm, then delete a manifest
///     GET  /ui/audit?…, /ui/audit/export?…                 the audit log, filtered; as JSON lines
///     GET  /ui/replication, POST /ui/replication/<rule>/run
///     GET  /ui/p2p
///
/// Every form carries its session's CSRF token; a POST without it changes nothing.
struct ConsoleAPI: Sendable {
    /// What the responder records of a console request, beside what it knows itself.
    struct Outcome {
        var response: Response
        var caller: Caller
        var action: AuditAction = .console
        var repository: String?
        var tag: String?
        var digest: String?
    }

    /// A request's session and who it speaks for.
    private struct Visit {
        var session: ConsoleSessions.Session?
        var caller: Caller
        /// Set when this request started the session: the response sets its cookie.
        var started = false

        var signedIn: Bool { caller.identity.kind != .anonymous }
    }

    let base: String
    let renderer: ConsoleRenderer
    let browser: RegistryBrowser
    let sessions: ConsoleSessions
    /// nil when access control is off: everyone sees everything, without signing in.
    let gate: Gatekeeper?
    let audit: AuditLog?
    let chain: AuditChainCheck?
    let replication: ReplicationService?
    let tracker: Tracker

    func serves(_ path: String) -> Bool { path == base || path.hasPrefix(base + "/") }

    func respond(to request: Request, client: String, scheme: String) async throws -> Outcome {
        let path = String(request.uri.path.dropFirst(base.count))
        if let asset = Self.asset(path) { return Outcome(response: asset, caller: .unrestricted) }
        var visit = try await visit(request)
        var outcome: Outcome
        do {
            outcome = try await route(request, path: path, visit: &visit, client: client, scheme: scheme)
        } catch let error as RegistryError where error.httpStatus < 500 {
            // Whatever the viewer may not see is "not found", like what does not exist.
            outcome = Outcome(response: page(error: error, visit: visit), caller: visit.caller)
        } catch let denial as AuthDenial {
            outcome = Outcome(response: page(error: denial.error, visit: visit), caller: denial.caller ?? visit.caller)
            outcome.action = .login
        }
        if visit.started, let session = visit.session {
            outcome.response.headers[values: .setCookie].append(
                ConsoleHTTP.sessionCookie(
                    session.token, path: base, maxAge: Int(sessions.lifetime), secure: scheme == "https"))
        }
        return outcome
    }

    private func route(
        _ request: Request, path: String, visit: inout Visit, client: String, scheme: String
    ) async throws -> Outcome {
        let get = request.method == .get || request.method == .head
        if path.isEmpty { return Outcome(response: ConsoleHTTP.redirect(base + "/"), caller: visit.caller) }
        if path == "/login" {
            if gate == nil { return Outcome(response: ConsoleHTTP.redirect(base + "/"), caller: visit.caller) }
            return get
                ? Outcome(response: try await loginPage(visit: &visit, request: request), caller: visit.caller)
                : try await login(request, visit: &visit, client: client)
        }
        if path == "/logout", !get {
            try await requireToken(request, visit)
            if let session = visit.session { try await sessions.end(session) }
            visit.session = nil
            var response = ConsoleHTTP.redirect(base + (gate == nil ? "/" : "/login"))
            response.headers[.setCookie] = ConsoleHTTP.sessionCookie("", path: base, maxAge: 0, secure: scheme == "https")
            return Outcome(response: response, caller: visit.caller)
        }
        if gate != nil, !visit.signedIn {
            let next = ConsoleQuery.encode(request.uri.path + (request.uri.query.map { "?" + $0 } ?? ""))
            return Outcome(response: ConsoleHTTP.redirect("\(base)/login?next=\(next)"), caller: visit.caller)
        }
        if get, visit.session == nil { try await startSession(&visit, identity: .anonymous) }
        let response: Response
        switch path {
        case "/":
            guard isAdmin(visit) else {
                return Outcome(response: ConsoleHTTP.redirect(base + "/repositories"), caller: visit.caller)
            }
            response = render(
                "overview", OverviewView(try await browser.overview(), base: base), "Overview", "overview", visit)
        case "/repositories":
            response = try await repositories(request, visit)
        case "/audit":
            response = try await auditPage(request, visit)
        case "/audit/export":
            response = try auditExport(request, visit)
        case "/replication":
            response = try await replicationPage(visit, message: request.uri.queryParameters["ran"].map { "Ran \($0)." })
        case "/p2p":
            try requireAdmin(visit)
            response = render("p2p", P2PView(tracker.summaries(), base: base), "P2P", "p2p", visit)
        default:
            if path.hasPrefix("/replication/"), path.hasSuffix("/run"), !get {
                return Outcome(response: try await runRule(request, path: path, visit: visit), caller: visit.caller)
            }
            if path.hasPrefix("/repositories/") {
                return try await repositoryRoute(request, path: String(path.dropFirst("/repositories/".count)), visit: visit)
            }
            throw RegistryError(.unsupported, status: 404, "no such page")
        }
        return Outcome(response: response, caller: visit.caller)
    }

    // MARK: Sign-in

    private func loginPage(visit: inout Visit, request: Request, error: String? = nil, user: String = "") async throws
        -> Response
    {
        if visit.session == nil { try await startSession(&visit, identity: .anonymous) }
        struct Login {
            let base: String
            let csrf: String
            let next: String
            let error: String?
            let user: String
        }
        let next = safeNext(request.uri.queryParameters["next"].map(String.init))
        let view = Login(base: base, csrf: visit.session?.row.csrf ?? "", next: next, error: error, user: user)
        return ConsoleHTTP.html(
            renderer.page("login", view, title: "Sign in", section: nil, admin: false, viewer: nil),
            status: error == nil ? .ok : .unauthorized)
    }

    private func login(_ request: Request, visit: inout Visit, client: String) async throws -> Outcome {
        let form = try await ConsoleHTTP.form(request)
        try requireToken(form, visit)
        guard let gate else { throw RegistryError(.unsupported, status: 404, "no such page") }
        let name = form["user"] ?? ""
        do throws(AuthDenial) {
            let identity = try await gate.login(name: name, secret: form["password"] ?? "", client: client) { "" }
            visit.caller = Caller(identity: identity, auth: "console", grants: nil, policy: gate.policy)
        } catch let denial {
            var page = try await loginPage(
                visit: &visit, request: request,
                error: denial.error.httpStatus == 429 ? "Too many failed sign-ins; try again later." : "Wrong user or password.",
                user: name)
            if denial.error.httpStatus == 429 { page.status = .tooManyRequests }
            var outcome = Outcome(response: page, caller: denial.caller ?? visit.caller)
            outcome.action = .login
            return outcome
        }
        if let old = visit.session { try await sessions.end(old) }
        try await startSession(&visit, identity: visit.caller.identity)
        var outcome = Outcome(response: ConsoleHTTP.redirect(safeNext(form["next"])), caller: visit.caller)
        outcome.action = .login
        return outcome
    }

    /// A `next` address inside the console, or the console's start.
    private func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix(base + "/"), !next.contains("//"), !next.contains("\\") else { return base + "/" }
        return next
    }

    // MARK: Pages

    private func repositories(_ request: Request, _ visit: Visit) async throws -> Response {
        let query = request.uri.queryParameters
        let search = String(query["q"] ?? "")
        let caller = visit.caller
        let list = try await browser.repositories(
            search: search, after: query["last"].map(String.init), limit: 50, visible: { caller.may(.pull, in: $0) })
        return render(
            "repositories", RepositoryListView(list, search: search, base: base), "Repositories", "repositories", visit)
    }

    /// `<name>`, `<name>/-/manifests/<digest>`, and their `/delete` confirmations and forms.
    private func repositoryRoute(_ request: Request, path: String, visit: Visit) async throws -> Outcome {
        let parts = path.components(separatedBy: "/-/")
        let name = try RepositoryName(parts[0])
        // A repository the viewer may not pull is not found, whether it exists or not.
        guard visit.caller.may(.pull, in: name.value), parts.count <= 2 else {
            throw RegistryError.nameUnknown(name.value)
        }
        let canDelete = visit.caller.may(.delete, in: name.value)
        let host = request.head.authority ?? "localhost:5000"
        let repositoryHref = "\(base)/repositories/\(name)"
        guard parts.count == 2 else {
            let list = try await browser.tags(name, after: request.uri.queryParameters["last"].map(String.init), limit: 100)
            let view = RepositoryView(list, host: host, canDelete: canDelete, base: base)
            return Outcome(response: render("repository", view, name.value, "repositories", visit), caller: visit.caller)
        }
        let rest = parts[1].split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        switch (rest.first, rest.count, rest.last) {
        case ("manifests", 2, _):
            let (details, bytes) = try await browser.manifest(name, .digest(try Digest(rest[1])))
            let view = ManifestView(details, bytes: bytes, host: host, canDelete: canDelete, base: base)
            var outcome = Outcome(
                response: render("manifest", view, "\(name)@\(ConsoleFormat.shortDigest(details.digest))", "repositories", visit),
                caller: visit.caller)
            outcome.repository = name.value
            outcome.digest = details.digest
            return outcome
        case ("manifests", 3, "delete"), ("tags", 3, "delete"):
            guard canDelete else {
                throw RegistryError(.denied, status: 403, "\(visit.caller.identity.name) may not delete in \(name)")
            }
            let isTag = rest[0] == "tags"
            let reference: Reference = isTag ? .tag(try Tag(rest[1])) : .digest(try Digest(rest[1]))
            let what = isTag ? "tag \(rest[1]) of \(name)" : "manifest \(rest[1]) of \(name) and every tag pointing at it"
            if request.method == .get {
                let view = ConfirmView(
                    question: "Delete the \(what)? This cannot be undone.", action: request.uri.path,
                    button: isTag ? "Delete tag" : "Delete manifest", back: repositoryHref,
                    csrf: visit.session?.row.csrf ?? "", base: base)
                return Outcome(response: render("confirm", view, "Delete", "repositories", visit), caller: visit.caller)
            }
            try requireToken(try await ConsoleHTTP.form(request), visit)
            let digest = try await browser.registry.deleteManifest(name, reference)
            var outcome = Outcome(response: ConsoleHTTP.redirect(repositoryHref), caller: visit.caller)
            outcome.action = isTag ? .deleteTag : .deleteManifest
            outcome.repository = name.value
            outcome.tag = isTag ? rest[1] : nil
            outcome.digest = digest
            return outcome
        default:
            throw RegistryError(.unsupported, status: 404, "no such page")
        }
    }

    private func auditPage(_ request: Request, _ visit: Visit) async throws -> Response {
        try requireAdmin(visit)
        guard let audit else { throw RegistryError(.unsupported, status: 404, "the audit log is off") }
        let parameters = request.uri.queryParameters
        var filter = try AuditAPI.filter(parameters)
        if parameters["limit"] == nil { filter.limit = 50 }
        try? await audit.flush()
        let page = try await audit.page(filter)
        var query = [String: String]()
        for name in ["since", "until", "actor", "repository", "action", "status"] {
            if let value = parameters[name[...]] { query[name] = String(value) }
        }
        let view = AuditView(page: page, query: query, chain: await chain?.latest(), base: base)
        return render("audit", view, "Audit log", "audit", visit)
    }

    /// Every record the filter selects, newest first, one JSON object per line, streamed a page at a time.
    private func auditExport(_ request: Request, _ visit: Visit) throws -> Response {
        try requireAdmin(visit)
        guard let audit else { throw RegistryError(.unsupported, status: 404, "the audit log is off") }
        var filter = try AuditAPI.filter(request.uri.queryParameters)
        filter.limit = AuditFilter.maxLimit
        var headers = ConsoleHTTP.securityHeaders
        headers[.contentType] = "application/x-ndjson"
        headers[.contentDisposition] = "attachment; filename=\"wharf-audit.jsonl\""
        headers[.cacheControl] = "no-store"
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { [filter] writer in
                try? await audit.flush()
                var filter = filter
                while true {
                    let page = try await audit.page(filter)
                    var buffer = ByteBuffer()
                    for line in page.lines {
                        buffer.writeBytes(line)
                        buffer.writeInteger(UInt8(ascii: "\n"))
                    }
                    try await writer.write(buffer)
                    guard let next = page.next else { break }
                    filter.cursor = next
                }
                try await writer.finish(nil)
            })
    }

    private func replicationPage(_ visit: Visit, message: String?) async throws -> Response {
        try requireAdmin(visit)
        guard let replication else { throw RegistryError(.unsupported, status: 404, "replication is off") }
        let view = ReplicationView(
            statuses: try await replication.status(), pool: replication.poolStatus(), csrf: visit.session?.row.csrf ?? "",
            message: message, base: base)
        return render("replication", view, "Replication", "replication", visit)
    }

    private func runRule(_ request: Request, path: String, visit: Visit) async throws -> Response {
        try requireAdmin(visit)
        try requireToken(try await ConsoleHTTP.form(request), visit)
        guard let replication else { throw RegistryError(.unsupported, status: 404, "replication is off") }
        let name = String(path.dropFirst("/replication/".count).dropLast("/run".count))
        guard replication.configuredRules.contains(where: { $0.name == name }) else {
            throw RegistryError(.unsupported, status: 404, "no replication rule is named \(name)")
        }
        let report = try await replication.reconcile(name)
        return ConsoleHTTP.redirect("\(base)/replication?ran=\(ConsoleQuery.encode("\(name): \(report.queued) tasks queued"))")
    }

    // MARK: Sessions and rights

    private func visit(_ request: Request) async throws -> Visit {
        let anonymous = Caller(identity: .anonymous, auth: "console", grants: nil, policy: gate?.policy)
        guard let token = ConsoleHTTP.sessionToken(request), let session = try await sessions.find(token: token) else {
            return Visit(session: nil, caller: gate == nil ? .unrestricted : anonymous)
        }
        guard let gate else { return Visit(session: session, caller: .unrestricted) }
        // The identity as it stands now: a user removed or a robot disabled since sign-in is signed out.
        guard let kind = Identity.Kind(rawValue: session.row.kind), kind != .anonymous,
            let identity = await gate.authenticator.current(name: session.row.identity, kind: kind)
        else { return Visit(session: session, caller: anonymous) }
        return Visit(session: session, caller: Caller(identity: identity, auth: "console", grants: nil, policy: gate.policy))
    }

    private func startSession(_ visit: inout Visit, identity: Identity) async throws {
        visit.session = try await sessions.start(identity: identity.name, kind: identity.kind.rawValue)
        visit.started = true
    }

    private func isAdmin(_ visit: Visit) -> Bool {
        guard let policy = visit.caller.policy else { return true }
        return policy.isRegistryAdmin(visit.caller.identity)
    }

    private func requireAdmin(_ visit: Visit) throws {
        guard isAdmin(visit) else {
            throw RegistryError(.denied, status: 403, "this page is for the registry's administrators")
        }
    }

    private func requireToken(_ request: Request, _ visit: Visit) async throws {
        try requireToken(try await ConsoleHTTP.form(request), visit)
    }

    /// A state-changing form must carry its session's token: another site can make a browser send the form, but
    /// cannot read the token.
    private func requireToken(_ form: [String: String], _ visit: Visit) throws {
        guard let session = visit.session, ConsoleSessions.csrfMatches(form["csrf"], session) else {
            throw RegistryError(
                .denied, status: 403, "the form's security token is missing or wrong: reload the page and try again")
        }
    }

    // MARK: Rendering

    private func render(_ template: String, _ view: Any, _ title: String, _ section: String?, _ visit: Visit) -> Response {
        ConsoleHTTP.html(
            renderer.page(
                template, view, title: title, section: section, admin: isAdmin(visit), viewer: signedIn(visit)))
    }

    private func signedIn(_ visit: Visit) -> ConsoleRenderer.SignedIn? {
        guard gate != nil, visit.signedIn, let session = visit.session else { return nil }
        return .init(name: visit.caller.identity.name, csrf: session.row.csrf)
    }

    private func page(error: RegistryError, visit: Visit) -> Response {
        struct Failure {
            let base: String
            let message: String
        }
        let (title, message) =
            switch error.httpStatus {
            case 404: ("Not found", "There is no such page, or you may not see it.")
            case 403: ("Not allowed", error.message)
            default: ("Refused", error.message)
            }
        return ConsoleHTTP.html(
            renderer.page(
                "error", Failure(base: base, message: message), title: title, section: nil,
                admin: isAdmin(visit), viewer: signedIn(visit)),
            status: HTTPResponse.Status(code: error.httpStatus))
    }

    private static func asset(_ path: String) -> Response? {
        switch path {
        case "/static/console.css":
            ConsoleHTTP.text(ConsoleAssets.stylesheet, type: "text/css; charset=utf-8", cacheControl: "max-age=3600")
        case "/static/console.js":
            ConsoleHTTP.text(ConsoleAssets.script, type: "text/javascript; charset=utf-8", cacheControl: "max-age=3600")
        default: nil
        }
    }
}
