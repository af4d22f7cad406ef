import HTTPTypes
import WharfCore

/// A request path under `/v2/`, parsed from the right: repository names may contain `/` and even segments
/// named `blobs`, `manifests`, `tags` or `uploads`, so only the last segments can say which endpoint is meant.
enum V2Route: Equatable {
    case base
    case catalog
    case tags(RepositoryName)
    case manifest(RepositoryName, reference: String)
    case blob(RepositoryName, digest: String)
    case uploads(RepositoryName)
    case upload(RepositoryName, id: String)
    case referrers(RepositoryName, digest: String)

    /// The route's name for metrics and logs.
    var name: String {
        switch self {
        case .base: "base"
        case .catalog: "catalog"
        case .tags: "tags"
        case .manifest: "manifest"
        case .blob: "blob"
        case .uploads: "uploads"
        case .upload: "upload"
        case .referrers: "referrers"
        }
    }

    /// The methods the endpoint answers, for `Allow` on a 405.
    var methods: [HTTPRequest.Method] {
        switch self {
        case .base, .catalog, .tags, .referrers: [.get, .head]
        case .manifest: [.get, .head, .put, .delete]
        case .blob: [.get, .head, .delete]
        case .uploads: [.post]
        case .upload: [.get, .patch, .put, .delete]
        }
    }

    /// Nil when the path is not a distribution API path; throws NAME_INVALID for a bad repository name.
    static func parse(_ path: String) throws(RegistryError) -> V2Route? {
        guard path == "/v2" || path.hasPrefix("/v2/") else { return nil }
        let tail = path.dropFirst(4)
        if tail.isEmpty { return .base }
        if tail == "_catalog" { return .catalog }
        let parts = tail.split(separator: "/", omittingEmptySubsequences: false)
        let n = parts.count
        func name(dropLast count: Int) throws(RegistryError) -> RepositoryName {
            try RepositoryName(parts[..<(n - count)].joined(separator: "/"))
        }
        if n >= 3, parts[n - 2] == "tags", parts[n - 1] == "list" { return .tags(try name(dropLast: 2)) }
        if n >= 3, parts[n - 2] == "blobs", parts[n - 1] == "uploads" { return .uploads(try name(dropLast: 2)) }
        if n >= 4, parts[n - 3] == "blobs", parts[n - 2] == "uploads" {
            return parts[n - 1].isEmpty
                ? .uploads(try name(dropLast: 3)) : .upload(try name(dropLast: 3), id: String(parts[n - 1]))
        }
        guard n >= 3, !parts[n - 1].isEmpty else { return nil }
        let last = String(parts[n - 1])
        switch parts[n - 2] {
        case "manifests": return .manifest(try name(dropLast: 2), reference: last)
        case "blobs": return .blob(try name(dropLast: 2), digest: last)
        case "referrers": return .referrers(try name(dropLast: 2), digest: last)
        default: return nil
        }
    }
}
