import HTTPTypes
import Hummingbird
import NIOCore
import Prometheus
import WharfCore
import WharfP2P
import WharfStorage

extension DistributionAPI {
    /// GET and HEAD: the stored bytes exactly as pushed, with their own media type, whatever the Accept header.
    func getManifest(_ name: RepositoryName, _ reference: Reference, includeBody: Bool) async throws -> Response {
        if !includeBody {
            let record = try await registry.manifestRecord(name, reference)
            return Response(status: .ok, headers: manifestHeaders(record.digest, record.mediaType, size: Int(record.size)))
        }
        let manifest = try await registry.manifest(name, reference)
        metrics.bytesOut.increment(by: Int64(manifest.bytes.count))
        return Response(
            status: .ok, headers: manifestHeaders(manifest.digest, manifest.mediaType, size: manifest.bytes.count),
            body: .init(byteBuffer: ByteBuffer(bytes: manifest.bytes)))
    }

    func putManifest(_ request: Request, _ name: RepositoryName, _ reference: Reference) async throws -> Response {
        var extraTags = [Tag]()
        for tag in request.uri.queryParameters[values: "tag"] { extraTags.append(try Tag(tag)) }
        let bytes = try await collectManifest(request)
        let (digest, manifest) = try await registry.putManifest(
            name, reference: reference, extraTags: extraTags, contentType: request.headers[.contentType], bytes: bytes,
            origin: request.headers[.replicationOrigin])
        var headers: HTTPFields = [
            .location: "/v2/\(name)/manifests/\(digest)", .dockerContentDigest: digest.description, .contentLength: "0",
        ]
        if let subject = manifest.subjectDigest { headers[.ociSubject] = subject.description }
        if case .tag(let tag) = reference { preheater?.pushed(name, tag: tag.description) }
        for tag in extraTags { preheater?.pushed(name, tag: tag.description) }
        return Response(status: .created, headers: headers)
    }

    func deleteManifest(_ name: RepositoryName, _ reference: Reference, origin: String?) async throws -> Response {
        let digest = try await registry.deleteManifest(name, reference, origin: origin)
        // The digest a deleted tag pointed to goes into the audit record (and tells the client).
        return Response(status: .accepted, headers: [.contentLength: "0", .dockerContentDigest: digest])
    }

    /// Reads a manifest body, refusing it as soon as it passes the configured limit.
    private func collectManifest(_ request: Request) async throws -> [UInt8] {
        let limit = registry.configuration.maxManifestBytes
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit {
            throw RegistryError.sizeInvalid("manifest exceeds the limit of \(limit) bytes", status: 413)
        }
        var bytes = [UInt8]()
        for try await chunk in countedBody(request) {
            guard bytes.count + chunk.readableBytes <= limit else {
                throw RegistryError.sizeInvalid("manifest exceeds the limit of \(limit) bytes", status: 413)
            }
            bytes.append(contentsOf: chunk.readableBytesView)
        }
        return bytes
    }

    private func manifestHeaders(_ digest: Digest, _ mediaType: String, size: Int) -> HTTPFields {
        [
            .contentType: mediaType, .contentLength: String(size), .dockerContentDigest: digest.description,
            .eTag: "\"\(digest)\"",
        ]
    }
}
