import HTTPTypes

/// Every endpoint outside `/v2/`, with the methods it answers. The responder dispatches through this table, the 405s
/// take their `Allow` from it, and a test holds `docs/openapi.yaml` to it both ways.
enum ServerEndpoint: String, CaseIterable, Sendable {
    case gc = "/api/v1/gc"
    case keys = "/api/v1/keys"
    case keysRotate = "/api/v1/keys/rotate"
    case keysEncryptExisting = "/api/v1/keys/encrypt-existing"
    case key = "/api/v1/keys/{id}"
    case audit = "/api/v1/audit"
    case token = "/auth/token"
    case health = "/healthz"
    case readiness = "/readyz"
    case metrics = "/metrics"

    var methods: [HTTPRequest.Method] {
        switch self {
        case .gc, .keysRotate, .keysEncryptExisting: [.post]
        case .keys, .metrics: [.get]
        case .key: [.delete]
        case .audit, .health, .readiness: [.get, .head]
        case .token: [.get, .post]
        }
    }

    /// The path template's one variable segment, when it has one (`/api/v1/keys/{id}` → the id).
    static func match(_ path: String) -> (endpoint: ServerEndpoint, parameter: String?)? {
        if let endpoint = ServerEndpoint(rawValue: path), endpoint != .key { return (endpoint, nil) }
        let keyPrefix = "/api/v1/keys/"
        if path.hasPrefix(keyPrefix), path.utf8.count > keyPrefix.utf8.count {
            let id = String(path.dropFirst(keyPrefix.count))
            if !id.contains("/") { return (.key, id) }
        }
        return nil
    }
}
