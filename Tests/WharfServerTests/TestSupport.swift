import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing
import WharfCore
import WharfStorage
import WharfTestSupport

@testable import WharfServer

/// A registry on a fresh temporary data directory (and a fresh database with `TestMetadata` on PostgreSQL), served on
/// a real loopback socket.
func withRegistry(
    _ adjust: (inout WharfConfiguration) -> Void = { _ in },
    _ test: @Sendable (any TestClientProtocol, String) async throws -> Void
) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-test-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var configuration = WharfConfiguration()
    configuration.listen = ["127.0.0.1:0"]
    configuration.dataDirectory = directory
    if let postgres = try TestMetadata.newDatabase() {
        configuration.metadata.driver = .postgres
        (configuration.metadata.host, configuration.metadata.port) = (postgres.host, postgres.port)
        (configuration.metadata.database, configuration.metadata.user) = (postgres.database, postgres.user)
        (configuration.metadata.password, configuration.metadata.connections) = (postgres.password, postgres.connections)
    }
    adjust(&configuration)
    var logger = Logger(label: "wharf-test")
    logger.logLevel = .warning
    let app = try await WharfServer.buildApplication(configuration, logger: logger)
    try await app.test(.live) { client in try await test(client, directory) }
}

extension HTTPField.Name {
    static let testDigest = HTTPField.Name("Docker-Content-Digest")!
    static let testUploadUUID = HTTPField.Name("Docker-Upload-UUID")!
    static let testLink = HTTPField.Name("Link")!
}

func digest(_ bytes: [UInt8]) -> String { Digest.of(bytes).description }
func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: bytes) }
func buffer(_ string: String) -> ByteBuffer { ByteBuffer(string: string) }

struct ErrorBody: Decodable {
    struct Entry: Decodable {
        let code: String
        let message: String
    }
    let errors: [Entry]
}

/// Checks an OCI error response: the status, a JSON body, and the spec's code. HEAD answers carry no body,
/// so for them only the status and the JSON content type are checked.
func expectError(
    _ response: TestResponse, _ status: Int, _ code: String, head: Bool = false, sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(response.status.code == status, sourceLocation: sourceLocation)
    #expect(response.headers[.contentType]?.hasPrefix("application/json") == true, sourceLocation: sourceLocation)
    if head {
        #expect(response.body.readableBytes == 0, sourceLocation: sourceLocation)
        return
    }
    let body = try? JSONDecoder().decode(ErrorBody.self, from: Data(response.body.readableBytesView))
    #expect(body?.errors.first?.code == code, sourceLocation: sourceLocation)
}

extension TestClientProtocol {
    /// Monolithic upload; returns the digest.
    @discardableResult
    func pushBlob(_ repository: String, _ bytes: [UInt8]) async throws -> String {
        let digest = digest(bytes)
        let response = try await execute(
            uri: "/v2/\(repository)/blobs/uploads/?digest=\(digest)", method: .post, body: buffer(bytes))
        #expect(response.status == .created)
        return digest
    }

    /// Pushes a config and a layer, then an image manifest referencing them; returns the manifest bytes.
    @discardableResult
    func pushImage(_ repository: String, tag: String, layer: String = "layer", extra: String = "") async throws -> [UInt8] {
        let config = try await pushBlob(repository, Array("{\"c\":\"\(layer)\"}".utf8))
        let layerDigest = try await pushBlob(repository, Array(layer.utf8))
        let manifest = Array(
            """
            {
              "schemaVersion": 2,
              "mediaType": "application/vnd.oci.image.manifest.v1+json",
              "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "\(config)", "size": \(layer.utf8.count + 8)},
              "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "\(layerDigest)", "size": \(layer.utf8.count)}]\(extra)
            }
            """.utf8)
        let response = try await execute(
            uri: "/v2/\(repository)/manifests/\(tag)", method: .put,
            headers: [.contentType: "application/vnd.oci.image.manifest.v1+json"], body: buffer(manifest))
        #expect(response.status == .created, "\(String(buffer: response.body))")
        return manifest
    }
}

func json(_ response: TestResponse) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any] ?? [:]
}
