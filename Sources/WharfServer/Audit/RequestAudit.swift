import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization
import WharfAudit
import WharfAuth
import WharfCore
import WharfReplication
import WharfStorage

/// Turns requests into audit records. A write's record (anything but GET and HEAD, bar upload-session steps) is
/// durable before its response leaves; a blob download's record is made once its body has been sent, so that it holds the bytes
/// really sent and the whole duration.
final class RequestAudit: Sendable {
    let log: AuditLog
    let logger: Logger

    init(log: AuditLog, logger: Logger) {
        self.log = log
        self.logger = logger
    }

    /// Probes and scrapes are not API requests; recording them would bury the log in load-balancer traffic.
    static func isRecorded(_ path: String) -> Bool { !["/healthz", "/readyz", "/metrics"].contains(path) }

    static func isWrite(_ method: HTTPRequest.Method) -> Bool { method != .get && method != .head }

    /// Whether the record must be on disk before the answer leaves: every write except the steps of an upload
    /// session (opening one, sending a chunk, cancelling), which change nothing anyone can pull. The request that
    /// commits the blob (the final PUT, a POST with `digest`, a mount) is durable and names the digest.
    static func isDurable(_ request: Request, route: V2Route?) -> Bool {
        guard isWrite(request.method) else { return false }
        switch route {
        case .upload: return request.method == .put
        case .uploads:
            let query = request.uri.queryParameters
            return query["digest"] != nil || query["mount"] != nil
        default: return true
        }
    }

    /// The answer to give instead when the request's deferred metadata sync failed; nil when it succeeded.
    private func unsynced(_ metadata: DeferredSync?) async -> Response? {
        do {
            try await metadata?.wait()
            return nil
        } catch {
            logger.error("a write's metadata could not be synced", metadata: ["error": "\(error)"])
            return ((error as? RegistryError) ?? Self.unavailable).response(includeBody: true)
        }
    }

    /// What is known when the request arrives.
    func begin(
        _ request: Request, path: String, route: V2Route?, helm: HelmRoute? = nil, client: String, caller: Caller,
        time: Int64
    ) -> AuditEvent {
        var event = AuditEvent(
            timeMillis: time, id: Self.newRequestID(), actor: caller.identity.name,
            actorKind: caller.identity.kind.rawValue, auth: caller.auth, client: client,
            userAgent: Self.limited(request.headers.first(.userAgent) ?? "-", 512), method: request.method.rawValue,
            path: Self.limited(path, 2048),
            action: Self.action(route, helm, request.method, path: path, request: request).rawValue, status: 0)
        if let helm { event.repository = helm.namespace.value }
        switch route {
        case .manifest(let name, let reference):
            event.repository = name.description
            if Reference.namesDigest(reference) { event.digest = reference } else { event.tag = reference }
        case .blob(let name, let digest), .referrers(let name, let digest):
            event.repository = name.description
            event.digest = digest
        case .uploads(let name):
            let query = request.uri.queryParameters
            event.repository = name.description
            event.digest = query["mount"].map(String.init) ?? query["digest"].map(String.init)
            if let from = query["from"], query["mount"] != nil { event.detail = "from \(from)" }
        case .upload(let name, _):
            event.repository = name.description
            event.digest = request.uri.queryParameters["digest"].map(String.init)
        case .tags(let name):
            event.repository = name.description
        case nil where [ServerEndpoint.tags.rawValue, ServerEndpoint.manifests.rawValue].contains(path):
            let query = request.uri.queryParameters
            event.repository = query["repository"].map(String.init)
            event.tag = query["reference"].flatMap { Reference.namesDigest($0) ? nil : String($0) }
        case .base, .catalog, nil:
            break
        }
        return event
    }

    /// Completes the record with the answer and writes it: durably before returning when `durable`, after the body
    /// for a blob download, else within the flush interval.
    /// `metadata`: the request's metadata writes whose sync was left for now (`DeferredSync`); waited for together
    /// with a durable record.
    func finish(
        _ event: consuming AuditEvent, method: HTTPRequest.Method, durable: Bool, response: consuming Response,
        errorCode: String?, tally: RequestTally, start: ContinuousClock.Instant, metadata: DeferredSync? = nil
    ) async -> Response {
        event.status = response.status.code
        event.error = errorCode
        if event.digest == nil, let digest = response.headers.first(.dockerContentDigest) { event.digest = digest }
        if let chart = response.headers.first(.wharfChart), let colon = chart.lastIndex(of: ":") {
            // A chart answer names its version: the repository and the version (the OCI tag) it is about.
            event.repository = String(chart[..<colon])
            event.tag = String(chart[chart.index(after: colon)...])
        }
        if event.action == AuditAction.mount.rawValue, let from = event.detail {
            event.detail = response.status.code == 201 ? "mounted \(from)" : "mount \(from) fell back to an upload"
        }
        event.bytesIn = tally.bytesIn.load(ordering: .relaxed)
        if durable {
            event.bytesOut = Int64(response.body.contentLength ?? 0)
            event.durationMicros = Self.micros(since: start)
            async let unsynced = unsynced(metadata)
            do {
                try await log.recordDurably(event)
                if let unsynced = await unsynced { return unsynced }
                return response
            } catch {
                _ = await unsynced
                // The record could not be made durable. A write that took effect is answered 503 all the same: the
                // client tries again (writes are idempotent), and the record says what it was told.
                if response.status.code < 400 {
                    logger.error("a write took effect but its audit record cannot be written", metadata: ["error": "\(error)"])
                    event.detail = "took effect with status \(response.status.code), but its record could not be written in time"
                }
                event.status = Self.unavailable.httpStatus
                event.error = Self.unavailable.code.rawValue
                var failed = Self.unavailable.response(includeBody: true)
                failed.headers[.requestID] = event.id
                log.record(event)
                return failed
            }
        }
        if let unsynced = await unsynced(metadata) { return unsynced }
        let streams = [AuditAction.pullBlob.rawValue, AuditAction.pullChart.rawValue].contains(event.action)
        guard method == .get, streams, response.status.code / 100 == 2 else {
            // An answer held in memory (a manifest, a listing, an error) is sent whole: record it now, and keep
            // Hummingbird's single-write path for it.
            event.bytesOut = Int64(response.body.contentLength ?? 0)
            event.durationMicros = Self.micros(since: start)
            log.record(event)
            return response
        }
        // A blob streams from disk: record it once the last byte is out (or the client went away), with what
        // was really sent.
        let body = response.body
        let log = self.log
        let begun = event
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            let finish = { @Sendable in
                var event = begun
                event.bytesIn = tally.bytesIn.load(ordering: .relaxed)
                event.bytesOut = tally.bytesOut.load(ordering: .relaxed)
                event.durationMicros = Self.micros(since: start)
                log.record(event)
            }
            do {
                try await body.write(
                    writer.map { buffer in
                        tally.bytesOut.add(Int64(buffer.readableBytes), ordering: .relaxed)
                        return buffer
                    })
            } catch {
                finish()
                throw error
            }
            finish()
        }
        return response
    }

    /// The record of one replication task's end: the rule, the remote and the direction in `detail`, never the
    /// remote's credentials.
    static func replicationRecord(_ outcome: ReplicationOutcome) -> AuditEvent {
        let isDigest = outcome.reference.contains(":")
        return AuditEvent(
            timeMillis: AuditTime.nowMillis(), id: "-", actor: "replication", actorKind: "system", auth: "internal",
            client: outcome.remote, userAgent: "wharf-replication", method: outcome.kind, path: "-",
            action: AuditAction.replicate.rawValue, repository: outcome.repository, tag: isDigest ? nil : outcome.reference,
            digest: isDigest ? outcome.reference : nil, status: outcome.error == nil ? 200 : 500, error: outcome.error,
            bytesIn: outcome.direction == .pull ? outcome.bytes : 0, bytesOut: outcome.direction == .push ? outcome.bytes : 0,
            durationMicros: outcome.duration.components.seconds * 1_000_000
                + outcome.duration.components.attoseconds / 1_000_000_000_000,
            detail: "rule=\(outcome.rule) remote=\(outcome.remote) direction=\(outcome.direction.rawValue)")
    }

    static let unavailable = RegistryError(
        .internalError, status: 503, "the audit log cannot be written; writes are refused until it can")

    private static func action(
        _ route: V2Route?, _ helm: HelmRoute?, _ method: HTTPRequest.Method, path: String, request: Request
    ) -> AuditAction {
        let reads = method == .get || method == .head
        if let helm {
            switch helm {
            case .index: return .chartIndex
            case .chart, .provenance: return .pullChart
            case .charts where method == .post: return .pushChart
            case .chartVersion where method == .delete: return .deleteChart
            case .charts, .chartVersions, .chartVersion: return .listCharts
            }
        }
        switch route {
        case nil:
            if path == ServerEndpoint.chartSearch.rawValue { return .searchCharts }
            if path == TokenEndpoint.path { return .token }
            // The browsing endpoints read what the catalog, the tag list and a manifest GET read.
            if path == ServerEndpoint.repositories.rawValue { return .catalog }
            if path == ServerEndpoint.tags.rawValue { return .listTags }
            if path == ServerEndpoint.manifests.rawValue { return .pullManifest }
            return path.hasPrefix("/api/v1/") ? .admin : .other
        case .base:
            // Credentials sent to the base endpoint are a login (what `docker login` and friends do).
            return request.headers[.authorization].map { $0.lowercased().hasPrefix("basic ") } == true ? .login : .ping
        case .catalog: return .catalog
        case .tags: return .listTags
        case .referrers: return .referrers
        case .manifest(_, let reference):
            if reads { return .pullManifest }
            if method == .put { return .pushManifest }
            if method == .delete { return Reference.namesDigest(reference) ? .deleteManifest : .deleteTag }
        case .blob:
            if reads { return .pullBlob }
            if method == .delete { return .deleteBlob }
        case .uploads:
            if method == .post { return request.uri.queryParameters["mount"] != nil ? .mount : .pushBlob }
        case .upload:
            if reads { return .uploadStatus }
            if method == .delete { return .cancelUpload }
            return .pushBlob
        }
        return .other
    }

    private static func limited(_ text: String, _ bytes: Int) -> String {
        text.utf8.count <= bytes ? text : String(text.prefix(bytes))
    }

    /// Unique request ids without a system call each: a random prefix for this process, then a counter, as 32
    /// hex digits.
    private static let idPrefix = UInt64.random(in: .min ... .max) | 1 << 63
    private static let idCounter = Atomic<UInt64>(0)

    private static func newRequestID() -> String {
        let count = idCounter.add(1, ordering: .relaxed).newValue
        return withUnsafeBytes(of: (idPrefix.bigEndian, count.bigEndian)) { $0.hexString }
    }

    private static func micros(since start: ContinuousClock.Instant) -> Int64 {
        let elapsed = ContinuousClock.now - start
        return elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
    }
}
