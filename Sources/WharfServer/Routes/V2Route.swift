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
        // The last three slashes, rightmost first: the endpoint is in the segments after them, the name before.
        var slashes: [Substring.Index] = []
        var end = tail.endIndex
        while slashes.count < 3, let slash = tail[..<end].utf8.lastIndex(of: UInt8(ascii: "/")) {
            slashes.append(slash)
            end = slash
        }
        // Segment 1 is the last one, 2 the one before it, ...; `name(before: k)` is everything before segment k.
        func segment(_ k: Int) -> Substring {
            tail[tail.index(after: slashes[k - 1])..<(k == 1 ? tail.endIndex : slashes[k - 2])]
        }
        func name(before k: Int) throws(RegistryError) -> RepositoryName { try RepositoryName(tail[..<slashes[k - 1]]) }
        let count = slashes.count
        if count >= 2, segment(2) == "tags", segment(1) == "list" { return .tags(try name(before: 2)) }
        if count >= 2, segment(2) == "blobs", segment(1) == "uploads" { return .uploads(try name(before: 2)) }
        if count >= 3, segment(3) == "blobs", segment(2) == "uploads" {
            let id = segment(1)
            return id.isEmpty ? .uploads(try name(before: 3)) : .upload(try name(before: 3), id: String(id))
        }
        guard count >= 2, !segment(1).isEmpty else { return nil }
        let last = String(segment(1))
        switch segment(2) {
        case "manifests": return .manifest(try name(before: 2), reference: last)
        case "blobs": return .blob(try name(before: 2), digest: last)
        case "referrers": return .referrers(try name(before: 2), digest: last)
        default: return nil
        }
    }
}
