import HTTPTypes
import WharfAuth
import WharfCore

/// What a request needs from its caller before it may go ahead.
enum AccessRequirement: Equatable {
    /// Health probes, metrics and the token endpoint itself.
    case open
    /// `GET /v2/`: any accepted credentials (clients learn the challenge here).
    case loggedIn
    /// The catalog: credentials of any kind; the answer lists only what the caller may pull.
    case catalog
    /// Reading the chart repositories: credentials of any kind, or none where some repositories are open to
    /// anonymous pulls; the answers list only what the caller may pull.
    case browse
    case repository(String, Role)
    /// The management API: admin of the whole registry.
    case registryAdmin

    /// `repository`: the query parameter of that name, which names the repository of a P2P piece list.
    init(route: V2Route?, method: HTTPRequest.Method, path: String, repository: String? = nil) {
        let reads = method == .get || method == .head
        switch route {
        // Piece lists (and their tokens) are for those who may pull the blob; the tracker's other calls carry a token.
        case nil where path == ServerEndpoint.p2pPieces.rawValue: self = .repository(repository ?? "", .pull)
        // Browsing: a repository's tags and manifests for those who may pull it; the list shows only those.
        case nil where path == ServerEndpoint.tags.rawValue || path == ServerEndpoint.manifests.rawValue:
            self = .repository(repository ?? "", .pull)
        case nil where path == ServerEndpoint.repositories.rawValue: self = .browse
        // A seeder's preheat list: any caller, who sees only the repositories it may pull.
        case nil where path == ServerEndpoint.p2pPreheatFeed.rawValue: self = .loggedIn
        // The chart repositories and their search: they list, and serve, only the charts the caller may pull, and take
        // uploads and deletes only where the caller may push and delete (`HelmAPI`, once the chart's name is known).
        case nil where path.hasPrefix(HelmRoute.prefix) || path == ServerEndpoint.chartSearch.rawValue:
            self = reads ? .browse : .loggedIn
        case nil: self = path.hasPrefix("/api/v1/") ? .registryAdmin : .open
        case .base: self = .loggedIn
        case .catalog: self = .catalog
        case .tags(let name), .referrers(let name, _): self = .repository(name.value, .pull)
        case .manifest(let name, _), .blob(let name, _):
            self = .repository(name.value, reads ? .pull : method == .delete ? .delete : .push)
        case .uploads(let name), .upload(let name, _): self = .repository(name.value, .push)
        }
    }

    /// The scope a client should ask a token for, in a challenge.
    var scope: String? {
        switch self {
        case .repository(let name, let role): "repository:\(name):\(role.actions.joined(separator: ","))"
        case .catalog: "registry:catalog:*"
        case .open, .loggedIn, .browse, .registryAdmin: nil
        }
    }
}
