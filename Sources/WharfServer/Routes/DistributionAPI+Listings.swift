import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import WharfAuth
import WharfCore
import WharfStorage

extension DistributionAPI {
    static let maxPageSize = 10_000

    func tags(_ request: Request, _ name: RepositoryName) async throws -> Response {
        let page = try Page(request)
        let tags = try await registry.tags(name, after: page.last, limit: page.fetchLimit)
        struct Body: Encodable {
            let name: String
            let tags: [String]
        }
        return try page.response(
            Body(name: name.value, tags: page.items(tags)), items: tags, path: "/v2/\(name)/tags/list")
    }

    /// The repositories the caller may pull, a page at a time.
    func catalog(_ request: Request, _ caller: Caller) async throws -> Response {
        let page = try Page(request)
        var repositories = [String]()
        var last = page.last
        let batchSize = max(page.fetchLimit ?? 1000, 100)
        // Fetch until the page is full or the store ends: the filter may drop any number of names.
        while repositories.count < page.fetchLimit ?? .max {
            let batch = try await registry.repositories(after: last, limit: batchSize)
            repositories += batch.filter(caller.sees)
            guard batch.count == batchSize, let end = batch.last else { break }
            last = end
        }
        if let limit = page.fetchLimit { repositories = Array(repositories.prefix(limit)) }
        struct Body: Encodable { let repositories: [String] }
        return try page.response(Body(repositories: page.items(repositories)), items: repositories, path: "/v2/_catalog")
    }

    func referrers(_ request: Request, _ name: RepositoryName, _ digest: Digest) async throws -> Response {
        let artifactType = request.uri.queryParameters["artifactType"].map(String.init)
        let descriptors = try await registry.referrers(name, of: digest, artifactType: artifactType)
        struct Index: Encodable {
            let schemaVersion = 2
            let mediaType = MediaType.ociIndex
            let manifests: [Descriptor]
        }
        let json = try JSONEncoder().encode(Index(manifests: descriptors))
        var headers = Self.jsonHeaders(length: json.count, contentType: MediaType.ociIndex)
        if artifactType != nil { headers[.ociFiltersApplied] = "artifactType" }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: json)))
    }

    /// `n` and `last` pagination with a `Link` header to the next page.
    private struct Page {
        let size: Int?
        let last: String?

        init(_ request: Request) throws {
            let query = request.uri.queryParameters
            last = query["last"].map(String.init)
            if let last, last.utf8.contains(0) {
                // No name holds one, and PostgreSQL cannot compare text that does.
                throw RegistryError(.unsupported, status: 400, "invalid last: it holds a NUL character")
            }
            if let n = query["n"] {
                // Above the page limit the page is clamped, and the Link header leads on.
                let digits = !n.isEmpty && n.utf8.allSatisfy { (0x30...0x39).contains($0) }
                guard let value = digits ? Int(n) ?? .max : nil else {
                    throw RegistryError(
                        .unsupported, status: 400, "invalid number of results requested: n must be a whole number ≥ 0",
                        detail: String(n.prefix(50)))
                }
                size = min(value, DistributionAPI.maxPageSize)
            } else {
                size = nil
            }
        }

        /// One more than the page, to know whether a next page exists.
        var fetchLimit: Int? { size.map { $0 + 1 } }

        func items(_ fetched: [String]) -> [String] {
            guard let size else { return fetched }
            return Array(fetched.prefix(size))
        }

        func response(_ body: some Encodable, items fetched: [String], path: String) throws -> Response {
            let json = try JSONEncoder().encode(body)
            var headers = DistributionAPI.jsonHeaders(length: json.count)
            if let size, size > 0, fetched.count > size, let lastItem = items(fetched).last {
                let escaped =
                    lastItem.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(.init(charactersIn: "-._~")))
                    ?? lastItem
                headers[.link] = "<\(path)?n=\(size)&last=\(escaped)>; rel=\"next\""
            }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: json)))
        }
    }
}
