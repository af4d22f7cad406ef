import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import WharfAudit
import WharfConsole
import WharfCore

/// The audit log's query endpoint (admin-only once access control exists):
///
///     GET /api/v1/audit?repository=&actor=&action=&status=&since=&until=&limit=&cursor=
///
/// answers `{"records": [...], "next": "<cursor>"}`, newest first, with a `Link: <…>; rel="next"` header while
/// more pages follow. `status` is `404` or `4xx`; `since` (inclusive) and `until` (exclusive) are UTC times
/// such as `2026-11-23T02:10:56Z` or dates; `limit` is 1–1000 (default 100).
struct AuditAPI: Sendable {
    let log: AuditLog

    /// `GET` or `HEAD /api/v1/audit`.
    func respond(to request: Request) async throws -> Response {
        let filter = try Self.filter(request.uri.queryParameters)
        let log = self.log
        // Answer with every request made before this one, reads and upload steps included (a full disk only
        // leaves them out).
        try? await log.flush()
        let page = try await log.page(filter)
        let body = ByteBuffer(bytes: page.json)
        var headers = DistributionAPI.jsonHeaders(length: body.readableBytes)
        if let next = page.next {
            // Encoded as the console's audit page encodes its own next links.
            var query = request.uri.queryParameters.filter { $0.key != "cursor" }.map {
                "\(ConsoleQuery.encode(String($0.key)))=\(ConsoleQuery.encode(String($0.value)))"
            }
            query.append("cursor=\(next)")
            headers[.link] = "</api/v1/audit?\(query.joined(separator: "&"))>; rel=\"next\""
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: request.method == .head ? ByteBuffer() : body))
    }

    static func filter(_ query: Parameters) throws(RegistryError) -> AuditFilter {
        func invalid(_ name: String, _ value: Substring) -> RegistryError {
            RegistryError(.unsupported, status: 400, "invalid audit query parameter \(name)", detail: String(value.prefix(100)))
        }
        var filter = AuditFilter()
        filter.repository = query["repository"].map(String.init)
        filter.actor = query["actor"].map(String.init)
        filter.action = query["action"].map(String.init)
        if let status = query["status"] {
            filter.status = String(status)
            guard filter.statusRange != nil else { throw invalid("status", status) }
        }
        if let since = query["since"] {
            guard let time = AuditTime.parse(String(since)) else { throw invalid("since", since) }
            filter.since = time
        }
        if let until = query["until"] {
            guard let time = AuditTime.parse(String(until)) else { throw invalid("until", until) }
            filter.until = time
        }
        if let limit = query["limit"] {
            guard let value = Int(limit), (1...AuditFilter.maxLimit).contains(value) else { throw invalid("limit", limit) }
            filter.limit = value
        }
        if let cursor = query["cursor"] {
            guard let value = UInt64(cursor) else { throw invalid("cursor", cursor) }
            filter.cursor = value
        }
        return filter
    }
}
