import Foundation
import Logging
import NIOCore
import Testing
import WharfConsole
import WharfCore
import WharfStorage
import WharfTestSupport

/// The view models over a real store: sizes, shared layers counted once, platforms, kinds and referrers.
@Suite struct ConsoleViewTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-console-\(UUID())").path

    func open() throws -> Registry {
        try Registry(
            configuration: StorageConfiguration(
                dataDirectory: directory, postgres: try TestMetadata.database(for: directory)),
            logger: Logger(label: "test"))
    }

    /// Uploads `content` and returns its descriptor JSON.
    func descriptor(_ registry: Registry, _ repository: RepositoryName, _ content: String, _ type: String) async throws
        -> String
    {
        let body = AsyncStream<ByteBuffer> {
            $0.yield(ByteBuffer(string: content))
            $0.finish()
        }
        try await registry.uploadBlob(repository, digest: Digest.of(Array(content.utf8)), body: body)
        return #"{"mediaType":"\#(type)","digest":"\#(Digest.of(Array(content.utf8)))","size":\#(content.utf8.count)}"#
    }

    func image(_ config: String, _ layers: [String], extra: String = "") -> String {
        #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":\#(config),"layers":[\#(layers.joined(separator: ","))]\#(extra)}"#
    }

    @discardableResult
    func put(_ registry: Registry, _ repository: RepositoryName, _ reference: String, _ manifest: String) async throws
        -> Digest
    {
        try await registry.putManifest(
            repository, reference: try Reference(reference), contentType: nil, bytes: Array(manifest.utf8)
        ).0
    }

    @Test func sizesCountSharedLayersOnceAndIndexesListPlatforms() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = try open()
        let app = try RepositoryName("team/app")
        let other = try RepositoryName("team/other")
        let shared = String(repeating: "s", count: 1000)
        let layerType = "application/vnd.oci.image.layer.v1.tar"
        let configType = "application/vnd.oci.image.config.v1+json"

        let sharedInApp = try await descriptor(registry, app, shared, layerType)
        let own = try await descriptor(registry, app, String(repeating: "o", count: 300), layerType)
        let amd = image(try await descriptor(registry, app, #"{"architecture":"amd64"}"#, configType), [sharedInApp, own])
        // The arm64 image uses the same shared layer: it is counted once in the index and in the repository.
        let arm = image(try await descriptor(registry, app, #"{"architecture":"arm64"}"#, configType), [sharedInApp])
        let amdDigest = try await put(registry, app, "amd", amd)
        let armDigest = try await put(registry, app, "arm", arm)
        let index = #"""
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[\#
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(amdDigest)","size":\#(amd.utf8.count),"platform":{"os":"linux","architecture":"amd64"}},\#
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(armDigest)","size":\#(arm.utf8.count),"platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}
            """#
        try await put(registry, app, "multi", index)
        let otherImage = image(
            try await descriptor(registry, other, #"{"architecture":"other"}"#, configType),
            [try await descriptor(registry, other, shared, layerType)])
        try await put(registry, other, "v1", otherImage)

        let browser = RegistryBrowser(registry: registry)
        let list = try await browser.repositories(search: nil, after: nil, limit: 10, visible: { _ in true })
        #expect(list.repositories.map(\.name) == ["team/app", "team/other"])
        let summary = list.repositories[0]
        let configs = [#"{"architecture":"amd64"}"#, #"{"architecture":"arm64"}"#].map(\.utf8.count).reduce(0, +)
        let manifests = [amd, arm, index].map(\.utf8.count).reduce(0, +)
        #expect(summary.size == Int64(1000 + 300 + configs + manifests))
        #expect(summary.sharedSize == 1000)
        #expect(summary.tags == 3 && summary.manifests == 3)
        #expect(summary.lastPush != nil)

        let view = RepositoryListView(list, search: "", base: "/ui")
        #expect(view.rows[0].shared == "1000 B (\(Int((100_000.0 / Double(summary.size)).rounded())) %)")
        #expect(view.rows[1].size == ConsoleFormat.bytes(list.repositories[1].size))

        let tags = try await browser.tags(app, after: nil, limit: 10)
        #expect(tags.tags.map(\.tag) == ["amd", "arm", "multi"])
        let multi = tags.tags[2]
        #expect(multi.kind == .index)
        #expect(multi.platforms == ["linux/amd64", "linux/arm64/v8"])
        #expect(multi.size == Int64(manifests + configs + 1000 + 300))
        #expect(tags.tags[1].size == Int64(arm.utf8.count + #"{"architecture":"arm64"}"#.utf8.count + 1000))
        #expect(tags.tags[0].kind == .image && tags.tags[0].platforms.isEmpty)

        let page = RepositoryView(tags, host: "registry.example:5000", canDelete: false, base: "/ui")
        #expect(page.rows[2].platforms == "linux/amd64, linux/arm64/v8")
        #expect(page.rows[2].pull == "podman pull registry.example:5000/team/app:multi")

        // Paginated: the first page names where the next begins.
        let first = try await browser.tags(app, after: nil, limit: 2)
        #expect(first.tags.map(\.tag) == ["amd", "arm"] && first.next == "arm")
        let search = try await browser.repositories(search: "oth", after: nil, limit: 10, visible: { _ in true })
        #expect(search.repositories.map(\.name) == ["team/other"])
        let hidden = try await browser.repositories(search: nil, after: nil, limit: 1, visible: { $0 != "team/app" })
        #expect(hidden.repositories.map(\.name) == ["team/other"] && hidden.next == nil)

        let totals = try await browser.overview().totals
        #expect(totals.repositories == 2 && totals.tags == 4)
        // The shared layer is stored once but held by both repositories.
        #expect(totals.linkedBytes - totals.storedBytes == 1000)
    }

    @Test func manifestDetailsGroupReferrersAndEscapeAnnotations() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = try open()
        let repository = try RepositoryName("signed")
        let empty = try await descriptor(registry, repository, "{}", "application/vnd.oci.empty.v1+json")
        let subject = image(
            try await descriptor(registry, repository, "{}", "application/vnd.oci.image.config.v1+json"),
            [try await descriptor(registry, repository, "payload", "application/vnd.oci.image.layer.v1.tar")],
            extra: #","annotations":{"note":"<script>alert(1)</script>"}"#)
        let subjectDigest = try await put(registry, repository, "v1", subject)
        let reference =
            #","subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(subjectDigest)","size":\#(subject.utf8.count)}"#
        for (tag, type) in [("sig", "application/vnd.example.signature"), ("sbom", "application/vnd.example.sbom")] {
            try await put(registry, repository, tag, image(empty, [empty], extra: #","artifactType":"\#(type)""# + reference))
        }

        let browser = RegistryBrowser(registry: registry)
        let (details, bytes) = try await browser.manifest(repository, .tag(try Tag("v1")))
        #expect(details.referrers.map(\.artifactType) == ["application/vnd.example.sbom", "application/vnd.example.signature"])
        #expect(details.layers.map(\.size) == [7])
        #expect(details.annotations.map(\.value) == ["<script>alert(1)</script>"])
        let referrer = try await browser.manifest(repository, .tag(try Tag("sig"))).details
        #expect(referrer.kind == .artifact && referrer.subject == subjectDigest.description)

        let view = ManifestView(details, bytes: bytes, host: "h:5000", canDelete: true, base: "/ui")
        #expect(view.pulls == ["podman pull h:5000/signed:v1"])
        #expect(view.raw.contains("\n  \"annotations\" : {"))
        let html = try ConsoleRenderer(base: "/ui").page(
            "manifest", view, title: "signed", section: "repositories", admin: true, viewer: nil)
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(!html.contains("<script>alert"))
        #expect(html.contains("/ui/repositories/signed/-/manifests/\(subjectDigest)/delete"))
    }

    @Test func kindsAndPullCommands() {
        #expect(ManifestKind(mediaType: "application/vnd.oci.image.index.v1+json", artifactType: nil) == .index)
        #expect(
            ManifestKind(mediaType: "application/vnd.docker.distribution.manifest.list.v2+json", artifactType: nil) == .index)
        let chart = ManifestKind(
            mediaType: "application/vnd.oci.image.manifest.v1+json", artifactType: "application/vnd.cncf.helm.config.v1+json")
        #expect(chart == .chart)
        #expect(
            chart.pullCommand(host: "h", repository: "charts/web", tag: "1.0.0") == "helm pull oci://h/charts/web --version 1.0.0"
        )
        #expect(
            ManifestKind(
                mediaType: "application/vnd.docker.distribution.manifest.v2+json",
                artifactType: "application/vnd.docker.container.image.v1+json") == .image)
        let artifact = ManifestKind(mediaType: "application/vnd.oci.image.manifest.v1+json", artifactType: "text/sbom")
        #expect(artifact == .artifact && artifact.pullCommand(host: "h", repository: "r", tag: "t") == "oras pull h/r:t")
        #expect(ConsoleFormat.bytes(999) == "999 B" && ConsoleFormat.bytes(1536) == "1.5 KiB")
        #expect(ConsoleFormat.bytes(300 << 20) == "300 MiB")
        #expect(ConsoleFormat.percent(1, of: 3) == "33 %" && ConsoleFormat.percent(1, of: 0) == "0 %")
    }

    @Test func sessionsAreStoredHashedAndEnd() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let registry = try open()
        let sessions = ConsoleSessions(metadata: registry.metadata)
        let session = try await sessions.start(identity: "alice", kind: "user")
        #expect(try await sessions.find(token: session.token) == session)
        #expect(ConsoleSessions.csrfMatches(session.row.csrf, session))
        #expect(!ConsoleSessions.csrfMatches(String(session.row.csrf.dropLast()) + "x", session))
        #expect(!ConsoleSessions.csrfMatches(nil, session))
        // The database holds the token's hash, never the token.
        let stored: [String] = try await registry.metadata.database.read { db in
            try db.values("SELECT token_hash FROM console_sessions")
        }
        #expect(stored.count == 1 && stored[0] != session.token)
        try await sessions.end(session)
        #expect(try await sessions.find(token: session.token) == nil)
        let expired = try await ConsoleSessions(metadata: registry.metadata, lifetime: -1).start(
            identity: "bob", kind: "user")
        #expect(try await sessions.find(token: expired.token) == nil)
    }
}
