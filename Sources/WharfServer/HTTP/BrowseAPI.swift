import Hummingbird
import WharfConsole
import WharfCore

/// What the console shows, for scripts (the caller must be able to pull what they ask about):
///
///     GET /api/v1/repositories?q=&last=&n=            repositories with tag counts, sizes and shared bytes
///     GET /api/v1/tags?repository=R&last=&n=          a repository's tags: digest, kind, size, platforms, push time
///     GET /api/v1/manifests?repository=R&reference=T  a manifest's parts, referrers and the indexes that list it
struct BrowseAPI: Sendable {
    let browser: RegistryBrowser

    /// nil when the endpoint is not this API's.
    func respond(to request: Request, endpoint: ServerEndpoint, caller: Caller) async throws -> Response? {
        let query = request.uri.queryParameters
        switch endpoint {
        case .repositories:
            return try AdminAPI.json(
                try await browser.repositories(
                    search: query["q"].map(String.init), after: query["last"].map(String.init), limit: try limit(query),
                    visible: { caller.sees($0) }))
        case .tags:
            return try AdminAPI.json(
                try await browser.tags(
                    try RepositoryName(String(query["repository"] ?? "")), after: query["last"].map(String.init),
                    limit: try limit(query)))
        case .manifests:
            let name = try RepositoryName(String(query["repository"] ?? ""))
            let reference = try Reference(String(query["reference"] ?? ""))
            return try AdminAPI.json(try await browser.manifest(name, reference).details)
        default:
            return nil
        }
    }

    /// `n`: 1 to 1000, 100 when absent.
    private func limit(_ query: Parameters) throws(RegistryError) -> Int {
        guard let text = query["n"] else { return 100 }
        guard let value = Int(text), (1...RegistryBrowser.maxPage).contains(value) else {
            throw RegistryError(.unsupported, status: 400, "n must be 1 to \(RegistryBrowser.maxPage)")
        }
        return value
    }
}
