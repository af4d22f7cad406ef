import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import WharfCore
import WharfP2P
import WharfStorage

/// The OCI distribution API v1.1: dispatches a parsed `/v2/` route and method to its handler.
struct DistributionAPI: Sendable {
    let registry: Registry
    let metrics: RegistryMetrics
    /// This store's `Wharf-Instance`.
    let instance: String
    /// Hears of every tag pushed, for the P2P push rules.
    let preheater: Preheater?

    /// `caller` has passed the gate for this route; it also limits what the catalog lists and what may be mounted.
    func respond(to request: Request, route: V2Route, caller: Caller) async throws -> Response {
        let method = request.method
        switch (route, method) {
        case (.base, .get), (.base, .head):
            return Response(
                status: .ok, headers: Self.jsonHeaders(length: 2),
                body: method == .head ? .init() : .init(byteBuffer: ByteBuffer(string: "{}")))
        case (.catalog, .get), (.catalog, .head):
            return Self.bodyless(try await catalog(request, caller), if: method == .head)
        case (.tags(let name), .get), (.tags(let name), .head):
            return Self.bodyless(try await tags(request, name), if: method == .head)
        case (.manifest(let name, let reference), .get), (.manifest(let name, let reference), .head):
            return try await getManifest(name, try Reference(reference), includeBody: method == .get)
        case (.manifest(let name, let reference), .put):
            return try await putManifest(request, name, try Self.pushReference(reference))
        case (.manifest(let name, let reference), .delete):
            return try await deleteManifest(name, try Reference(reference), origin: request.headers[.replicationOrigin])
        case (.blob(let name, let digest), .get), (.blob(let name, let digest), .head):
            return try await getBlob(request, name, try Digest(digest), includeBody: method == .get)
        case (.blob(let name, let digest), .delete):
            try await registry.deleteBlob(name, try Digest(digest))
            return Response(status: .accepted, headers: [.contentLength: "0"])
        case (.uploads(let name), .post):
            return try await startUpload(request, name, caller)
        case (.upload(let name, let id), .get):
            return try await uploadStatus(name, try Self.uploadID(id))
        case (.upload(let name, let id), .patch):
            return try await patchUpload(request, name, try Self.uploadID(id))
        case (.upload(let name, let id), .put):
            return try await completeUpload(request, name, try Self.uploadID(id))
        case (.upload(let name, let id), .delete):
            try await registry.cancelUpload(name, try Self.uploadID(id))
            return Response(status: .noContent)
        case (.referrers(let name, let digest), .get), (.referrers(let name, let digest), .head):
            return Self.bodyless(try await referrers(request, name, try Digest(digest)), if: method == .head)
        default:
            throw MethodNotAllowed(allowed: route.methods)
        }
    }

    /// A HEAD answer: the GET's status and headers (its Content-Length included), no body.
    static func bodyless(_ response: Response, if head: Bool) -> Response {
        guard head else { return response }
        return Response(status: response.status, headers: response.headers)
    }

    /// A reference to push to: an invalid tag is a bad request here, not an unknown manifest.
    static func pushReference(_ text: String) throws(RegistryError) -> Reference {
        do {
            return try Reference(text)
        } catch  where error.code == .manifestUnknown {
            throw RegistryError.manifestInvalid("invalid tag '\(text.prefix(200))'")
        }
    }

    static func jsonHeaders(length: Int, contentType: String = "application/json") -> HTTPFields {
        [.contentType: contentType, .contentLength: String(length)]
    }

    /// Upload ids are UUIDs we minted; anything else is unknown (and never reaches the file system).
    static func uploadID(_ id: String) throws(RegistryError) -> String {
        guard id.utf8.count == 36, id.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) || $0 == 0x2d })
        else { throw RegistryError.blobUploadUnknown(String(id.prefix(100))) }
        return id
    }

    /// A request body that counts the bytes it yields into the `bytes in` metric.
    func countedBody(_ request: Request) -> CountingBody<RequestBody> {
        CountingBody(base: request.body, counter: metrics.bytesIn)
    }
}
