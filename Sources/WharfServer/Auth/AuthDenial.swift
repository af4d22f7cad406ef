import HTTPTypes
import WharfCore

/// A request the gate refused: the spec's error, the headers that tell the client what to do next (a challenge,
/// Retry-After), and what the audit record should say about it.
struct AuthDenial: Error {
    let error: RegistryError
    var headers: HTTPFields = [:]
    /// For the audit record, e.g. which user name a failed login tried.
    var detail: String?
    /// Who was refused, once known: the audit record names them.
    var caller: Caller?

    static func unauthorized(_ message: String, challenge: String, detail: String? = nil, caller: Caller? = nil)
        -> AuthDenial
    {
        AuthDenial(
            error: RegistryError(.unauthorized, status: 401, message),
            headers: [.wwwAuthenticate: challenge], detail: detail, caller: caller)
    }

    static func denied(_ message: String, caller: Caller) -> AuthDenial {
        AuthDenial(error: RegistryError(.denied, status: 403, message), caller: caller)
    }

    static func tooManyRequests(retryAfter seconds: Int, detail: String?) -> AuthDenial {
        AuthDenial(
            error: RegistryError(
                .tooManyRequests, status: 429, "too many failed logins; try again in \(seconds) s"),
            headers: [.retryAfter: String(seconds)], detail: detail)
    }
}
