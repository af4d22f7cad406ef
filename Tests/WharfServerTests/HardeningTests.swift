import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import WharfCore
import Yams

@testable import WharfServer

@Suite struct HardeningTests {
    static let methods: [HTTPRequest.Method] = [.get, .head, .put, .post, .patch, .delete, .options]
    static let someDigest = "sha256:" + String(repeating: "ab", count: 32)

    /// A path of every `/v2/` endpoint; the switch fails to compile when a route is added without one.
    static func samplePath(_ route: V2Route) -> String {
        switch route {
        case .base: "/v2/"
        case .catalog: "/v2/_catalog"
        case .tags: "/v2/a/tags/list"
        case .manifest: "/v2/a/manifests/v1"
        case .blob: "/v2/a/blobs/\(someDigest)"
        case .uploads: "/v2/a/blobs/uploads/"
        case .upload: "/v2/a/blobs/uploads/00000000-0000-0000-0000-000000000000"
        case .referrers: "/v2/a/referrers/\(someDigest)"
        }
    }

    static let routes: [V2Route] = try! [
        .base, .catalog, .tags(RepositoryName("a")), .manifest(RepositoryName("a"), reference: "v1"),
        .blob(RepositoryName("a"), digest: someDigest), .uploads(RepositoryName("a")),
        .upload(RepositoryName("a"), id: "00000000-0000-0000-0000-000000000000"),
        .referrers(RepositoryName("a"), digest: someDigest),
    ]

    static func path(_ endpoint: ServerEndpoint) -> String {
        endpoint.rawValue.replacingOccurrences(of: "{id}", with: "abc").replacingOccurrences(of: "{name}", with: "a-rule")
    }

    @Test func every405CarriesAllow() async throws {
        try await withRegistry({ $0.auth.enabled = true }) { client, _ in
            for route in Self.routes {
                #expect(try V2Route.parse(Self.samplePath(route)) == route)
                let allow = route.methods.map(\.rawValue).joined(separator: ", ")
                for method in Self.methods where !route.methods.contains(method) {
                    let response = try await client.execute(uri: Self.samplePath(route), method: method)
                    #expect(response.status.code == 405, "\(method) \(Self.samplePath(route))")
                    #expect(response.headers[.allow] == allow, "\(method) \(Self.samplePath(route))")
                }
            }
            for endpoint in ServerEndpoint.allCases {
                #expect(ServerEndpoint.match(Self.path(endpoint))?.endpoint == endpoint)
                for method in Self.methods where !endpoint.methods.contains(method) {
                    let response = try await client.execute(uri: Self.path(endpoint), method: method)
                    #expect(response.status.code == 405, "\(method) \(endpoint.rawValue)")
                    #expect(response.headers[.allow] == endpoint.methods.map(\.rawValue).joined(separator: ", "))
                }
            }
        }
    }

    @Test func listingsAnswerHead() async throws {
        try await withRegistry { client, _ in
            try await client.pushImage("heads", tag: "v1")
            for uri in ["/v2/_catalog", "/v2/heads/tags/list", "/v2/heads/referrers/\(Self.someDigest)"] {
                let get = try await client.execute(uri: uri, method: .get)
                let head = try await client.execute(uri: uri, method: .head)
                #expect(head.status == .ok && head.body.readableBytes == 0, "\(uri)")
                #expect(head.headers[.contentLength] == String(get.body.readableBytes), "\(uri)")
            }
        }
    }

    @Test func aPageSizeAboveTheLimitIsClamped() async throws {
        try await withRegistry { client, _ in
            try await client.pushImage("clamp", tag: "v1")
            for n in ["10001", "99999999999999999999999"] {
                let response = try await client.execute(uri: "/v2/clamp/tags/list?n=\(n)", method: .get)
                #expect(response.status == .ok)
                #expect(try json(response)["tags"] as? [String] == ["v1"])
            }
        }
    }

    @Test func mountWithoutFromFindsTheBlobInAnyReadableRepository() async throws {
        try await withRegistry { client, _ in
            let digest = try await client.pushBlob("mount/source", Array("shared layer".utf8))
            let mounted = try await client.execute(uri: "/v2/mount/target/blobs/uploads/?mount=\(digest)", method: .post)
            #expect(mounted.status == .created)
            #expect(mounted.headers[.location] == "/v2/mount/target/blobs/\(digest)")
            #expect(try await client.execute(uri: "/v2/mount/target/blobs/\(digest)", method: .head).status == .ok)

            // A blob no repository holds: an upload session instead.
            let missing = try await client.execute(uri: "/v2/mount/target/blobs/uploads/?mount=\(Self.someDigest)", method: .post)
            #expect(missing.status == .accepted && missing.headers[.location] != nil)
        }
    }

    /// `docs/openapi.yaml` lists exactly the endpoints the server routes outside `/v2/`, with their methods.
    @Test func theOpenAPIDocumentMatchesTheRoutes() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/openapi.yaml")
        let document = try #require(try Yams.load(yaml: String(contentsOf: url, encoding: .utf8)) as? [String: Any])
        #expect((document["openapi"] as? String)?.hasPrefix("3.1") == true)
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let operations = ["get", "head", "put", "post", "patch", "delete", "options"]
        let documented = Set(
            paths.flatMap { path, item in item.keys.filter(operations.contains).map { "\($0.uppercased()) \(path)" } })
        // A chart repository's paths are templates under /helm/: each, filled in, must be a route with those methods.
        let helmTemplates = paths.keys.filter { $0.hasPrefix(HelmRoute.prefix) }
        let helmRoutes = try helmTemplates.map { template in
            let path = template.replacingOccurrences(of: "{namespace}", with: "team/apps")
                .replacingOccurrences(of: "{chart}", with: "my-app-1.0.0").replacingOccurrences(of: "{name}", with: "my-app")
                .replacingOccurrences(of: "{version}", with: "1.0.0")
            return (template, try #require(try HelmRoute.parse(path), "\(template) is not a chart repository route"))
        }
        #expect(Set(helmRoutes.map { "\($0.1)".prefix { $0 != "(" } }).count == 6, "every kind of chart route is documented")
        let routed = Set(
            ServerEndpoint.allCases.flatMap { endpoint in endpoint.methods.map { "\($0.rawValue) \(endpoint.rawValue)" } }
                + helmRoutes.flatMap { template, route in route.methods.map { "\($0.rawValue) \(template)" } })
        #expect(documented.subtracting(routed).isEmpty, "documented but not routed: \(documented.subtracting(routed).sorted())")
        #expect(routed.subtracting(documented).isEmpty, "routed but not documented: \(routed.subtracting(documented).sorted())")
    }
}
