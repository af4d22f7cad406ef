import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The HTTP details of the console: its cookie, its forms, and the headers every page carries.
enum ConsoleHTTP {
    static let cookieName = "wharf_console"

    /// The session token a request's cookies carry, if any.
    static func sessionToken(_ request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == cookieName {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
        }
        return nil
    }

    /// The cookie that carries a session: script cannot read it, no other site's request sends it, and over TLS it
    /// travels only encrypted.
    static func sessionCookie(_ token: String, path: String, maxAge: Int, secure: Bool) -> String {
        "\(cookieName)=\(token); Path=\(path); Max-Age=\(maxAge); HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }

    /// The fields of an `application/x-www-form-urlencoded` body (at most 64 KiB).
    static func form(_ request: Request) async throws -> [String: String] {
        let type = request.headers[.contentType]?.lowercased() ?? ""
        guard type.hasPrefix("application/x-www-form-urlencoded") else { return [:] }
        let body = try await request.collectBody(upTo: 64 << 10, tooLarge: "a console form is at most 64 KiB")
        var fields = [String: String]()
        for pair in String(buffer: body).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            if let name = parts.first { fields[decode(name)] = parts.count > 1 ? decode(parts[1]) : "" }
        }
        return fields
    }

    /// A page: no caching, no framing, no script but the console's own file, no inline style or script.
    static func html(_ page: String, status: HTTPResponse.Status = .ok) -> Response {
        text(page, type: "text/html; charset=utf-8", cacheControl: "no-store", status: status)
    }

    /// A text body with the console's security headers.
    static func text(_ text: String, type: String, cacheControl: String, status: HTTPResponse.Status = .ok) -> Response {
        var headers = securityHeaders
        headers[.contentType] = type
        headers[.cacheControl] = cacheControl
        let body = ByteBuffer(string: text)
        headers[.contentLength] = String(body.readableBytes)
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }

    /// A redirect after a form (303: the browser follows it with a GET).
    static func redirect(_ location: String, status: HTTPResponse.Status = .seeOther) -> Response {
        var headers = securityHeaders
        headers[.location] = location
        headers[.contentLength] = "0"
        return Response(status: status, headers: headers)
    }

    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy:
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
            + "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        .xContentTypeOptions: "nosniff",
        .init("X-Frame-Options")!: "DENY",
        .init("Referrer-Policy")!: "same-origin",
    ]
}
