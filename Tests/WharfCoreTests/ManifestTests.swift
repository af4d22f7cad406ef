import Testing

@testable import WharfCore

@Suite struct ManifestTests {
    static let config = "sha256:" + String(repeating: "c", count: 64)
    static let layer = "sha256:" + String(repeating: "1", count: 64)
    static let child = "sha256:" + String(repeating: "2", count: 64)

    static func bytes(_ json: String) -> [UInt8] { Array(json.utf8) }

    static let image = """
        {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
         "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\(config)","size":2},
         "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"\(layer)","size":5}]}
        """

    @Test func parsesAnOCIImageManifest() throws {
        let manifest = try Manifest(parsing: Self.bytes(Self.image), contentType: MediaType.ociManifest)
        #expect(manifest.kind == .image)
        #expect(manifest.mediaType == MediaType.ociManifest)
        #expect(manifest.blobDigests.map(\.description) == [Self.config, Self.layer])
        #expect(manifest.artifactType == "application/vnd.oci.image.config.v1+json")
        #expect(manifest.subjectDigest == nil)
    }

    @Test func parsesAnIndexAndADockerList() throws {
        for mediaType in [MediaType.ociIndex, MediaType.dockerManifestList] {
            let json = """
                {"schemaVersion":2,"mediaType":"\(mediaType)","manifests":[
                 {"mediaType":"\(MediaType.ociManifest)","digest":"\(Self.child)","size":7,
                  "platform":{"architecture":"arm64","os":"linux"}}]}
                """
            let manifest = try Manifest(parsing: Self.bytes(json), contentType: mediaType)
            #expect(manifest.kind == .index)
            #expect(manifest.childDigests.map(\.description) == [Self.child])
        }
    }

    @Test func artifactWithSubjectAndArtifactType() throws {
        let json = """
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
             "artifactType":"application/vnd.example.sig","subject":{"mediaType":"\(MediaType.ociManifest)",
             "digest":"\(Self.child)","size":3},
             "config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"\(Self.config)","size":2},
             "layers":[]}
            """
        let manifest = try Manifest(parsing: Self.bytes(json), contentType: nil)
        #expect(manifest.artifactType == "application/vnd.example.sig")
        #expect(manifest.subjectDigest?.description == Self.child)
    }

    @Test func foreignLayersNeedNotBeInTheRegistry() throws {
        let json = """
            {"schemaVersion":2,"mediaType":"\(MediaType.dockerManifest)",
             "config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"\(Self.config)","size":2},
             "layers":[{"mediaType":"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip","digest":"\(Self.layer)",
             "size":5,"urls":["https://example.com/layer"]}]}
            """
        let manifest = try Manifest(parsing: Self.bytes(json), contentType: MediaType.dockerManifest)
        #expect(manifest.blobDigests.map(\.description) == [Self.config])
    }

    @Test(arguments: [
        "not json", "[]", "{}", #"{"schemaVersion":1}"#,
        #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}"#,
        #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}"#,
        #"{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:zz","size":1},"layers":[]}"#,
        #"{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:\#(String(repeating: "a", count: 64))","size":-1},"layers":[]}"#,
        #"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v1+json","config":{}}"#,
        #"{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:\#(String(repeating: "a", count: 64))","size":1},"layers":{}}"#,
    ])
    func rejectsMalformed(_ json: String) {
        do {
            _ = try Manifest(parsing: Self.bytes(json), contentType: nil)
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.code == .manifestInvalid)
        }
    }

    @Test func mediaTypeMustMatchContentType() {
        do {
            _ = try Manifest(parsing: Self.bytes(Self.image), contentType: MediaType.dockerManifest)
            Issue.record("accepted a mismatching Content-Type")
        } catch {
            #expect(error.code == .manifestInvalid)
        }
        // Parameters of the header are ignored.
        #expect(throws: Never.self) {
            try Manifest(parsing: Self.bytes(Self.image), contentType: MediaType.ociManifest + "; charset=utf-8")
        }
    }
}
