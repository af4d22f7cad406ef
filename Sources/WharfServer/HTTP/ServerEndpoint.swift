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
    case replicationStatus = "/api/v1/replication/status"
    case replicationTasks = "/api/v1/replication/tasks"
    case replicationPool = "/api/v1/replication/pool"
    case replicationRules = "/api/v1/replication/rules"
    case replicationRule = "/api/v1/replication/rules/{name}"
    case replicationRun = "/api/v1/replication/rules/{name}/run"
    case p2pKey = "/p2p/v1/key"
    case p2pPieces = "/p2p/v1/pieces"
    case p2pAnnounce = "/p2p/v1/announce"
    case p2pPeers = "/p2p/v1/peers"
    case p2pPreheatFeed = "/p2p/v1/preheat"
    case p2pPreheat = "/api/v1/p2p/preheat"
    case chartSearch = "/api/v1/charts"
    case repositories = "/api/v1/repositories"
    case tags = "/api/v1/tags"
    case manifests = "/api/v1/manifests"
    case token = "/auth/token"
    case health = "/healthz"
    case readiness = "/readyz"
    case metrics = "/metrics"

    var methods: [HTTPRequest.Method] {
        switch self {
        case .gc, .keysRotate, .keysEncryptExisting, .replicationRun, .p2pAnnounce, .p2pPeers, .p2pPreheat: [.post]
        case .keys, .metrics, .replicationStatus, .replicationTasks, .replicationPool, .p2pKey, .p2pPieces,
            .p2pPreheatFeed:
            [.get]
        case .replicationRules: [.get, .post]
        case .replicationRule: [.get, .put, .delete]
        case .key: [.delete]
        case .audit, .health, .readiness, .chartSearch: [.get, .head]
        case .repositories, .tags, .manifests: [.get]
        case .token: [.get, .post]
        }
    }

    /// The endpoint a path names, and the value of its template's variable segment when it has one
    /// (`/api/v1/keys/{id}` → the id).
    static func match(_ path: String) -> (endpoint: ServerEndpoint, parameter: String?)? {
        if let endpoint = ServerEndpoint(rawValue: path), !endpoint.rawValue.contains("{") { return (endpoint, nil) }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        for endpoint in allCases where endpoint.rawValue.contains("{") {
            let template = endpoint.rawValue.split(separator: "/", omittingEmptySubsequences: false)
            guard template.count == segments.count else { continue }
            var parameter: String?
            let fits = zip(template, segments).allSatisfy { pattern, segment in
                guard pattern.hasPrefix("{") else { return pattern == segment }
                parameter = String(segment)
                return !segment.isEmpty
            }
            if fits { return (endpoint, parameter) }
        }
        return nil
    }
}
