import HTTPTypes
import Hummingbird
import WharfCore

/// A known endpoint asked with a method it does not answer: 405 `UNSUPPORTED` with the `Allow` header that
/// RFC 9110 §15.5.6 requires.
struct MethodNotAllowed: Error {
    let allowed: [HTTPRequest.Method]

    var error: RegistryError {
        RegistryError.unsupported("method not allowed on this endpoint; allowed: \(allow)")
    }

    var allow: String { allowed.map(\.rawValue).joined(separator: ", ") }

    func response(includeBody: Bool) -> Response {
        var response = error.response(includeBody: includeBody)
        response.headers[.allow] = allow
        return response
    }
}
