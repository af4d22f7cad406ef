import HTTPTypes
import Hummingbird
import NIOCore
import WharfAuth
import WharfCore
import WharfStorage

extension DistributionAPI {
    /// `POST /v2/<name>/blobs/uploads/`: a cross-repository mount, a monolithic upload, or a new session.
    /// A mount needs pull on `from`; without `from`, any repository the caller may pull will do (the spec's automatic
    /// mount). Otherwise the client uploads as if the blob were not there.
    func startUpload(_ request: Request, _ name: RepositoryName, _ caller: Caller) async throws -> Response {
        let query = request.uri.queryParameters
        if let mount = query["mount"] {
            let digest = try Digest(mount)
            let mounted =
                if let from = query["from"] {
                    if let source = try? RepositoryName(from), caller.may(.pull, in: source.value) {
                        try await registry.mountBlob(name, digest, from: source)
                    } else {
                        false
                    }
                } else {
                    try await registry.mountBlob(name, digest, fromAnyOf: { caller.may(.pull, in: $0) })
                }
            if mounted { return blobCreated(name, digest) }
            // Not mountable: fall back to an ordinary upload session, as the spec says.
        } else if let digestParameter = query["digest"] {
            let digest = try Digest(digestParameter)
            try await registry.uploadBlob(name, digest: digest, body: countedBody(request))
            return blobCreated(name, digest)
        }
        let id = try await registry.startUpload(name)
        return Response(status: .accepted, headers: uploadHeaders(name, id, size: 0))
    }

    func uploadStatus(_ name: RepositoryName, _ id: String) async throws -> Response {
        let size = try await registry.uploadSize(name, id)
        return Response(status: .noContent, headers: uploadHeaders(name, id, size: size))
    }

    /// `PATCH`: one chunk, at the position `Content-Range` names, or streamed without one.
    func patchUpload(_ request: Request, _ name: RepositoryName, _ id: String) async throws -> Response {
        var start: Int64?
        var length: Int64?
        if let header = request.headers[.contentRange] {
            guard let range = Self.parseContentRange(header) else {
                throw RegistryError.blobUploadInvalid("invalid Content-Range '\(header.prefix(100))'", status: 416)
            }
            start = range.start
            length = range.count
        } else if let contentLength = request.headers[.contentLength].flatMap({ Int64($0) }) {
            length = contentLength
        }
        do {
            let size = try await registry.appendUpload(name, id, start: start, length: length, body: countedBody(request))
            return Response(status: .accepted, headers: uploadHeaders(name, id, size: size))
        } catch let error as RegistryError where error.httpStatus == 416 {
            // Tell the client where the upload stands so that it can resume from there.
            var response = error.response(includeBody: true)
            if let size = try? await registry.uploadSize(name, id) {
                response.headers.append(contentsOf: uploadHeaders(name, id, size: size).filter { $0.name != .contentLength })
            }
            return response
        }
    }

    /// `PUT ?digest=`: an optional last chunk, then the commit.
    func completeUpload(_ request: Request, _ name: RepositoryName, _ id: String) async throws -> Response {
        _ = try await registry.uploadSize(name, id)  // an unknown session is reported as such, before the digest
        guard let digestParameter = request.uri.queryParameters["digest"] else {
            throw RegistryError.digestInvalid("the digest query parameter is required to complete an upload")
        }
        let digest = try Digest(digestParameter)
        try await registry.completeUpload(name, id, digest: digest, body: countedBody(request))
        return blobCreated(name, digest)
    }

    private func blobCreated(_ name: RepositoryName, _ digest: Digest) -> Response {
        Response(
            status: .created,
            headers: [
                .location: "/v2/\(name)/blobs/\(digest)", .dockerContentDigest: digest.description, .contentLength: "0",
            ])
    }

    private func uploadHeaders(_ name: RepositoryName, _ id: String, size: Int64) -> HTTPFields {
        [
            .location: "/v2/\(name)/blobs/uploads/\(id)",
            .dockerUploadUUID: id,
            .range: "0-\(max(size - 1, 0))",
            .contentLength: "0",
        ]
    }

    /// `start-end`, also as `bytes start-end/total` or `bytes=start-end`.
    static func parseContentRange(_ header: String) -> ByteRange? {
        var value = Substring(header)
        if value.hasPrefix("bytes") { value = value.dropFirst(5) }
        value = value.drop(while: { $0 == " " || $0 == "=" })
        if let slash = value.firstIndex(of: "/") { value = value[..<slash] }
        let parts = value.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let start = Int64(parts[0]), let end = Int64(parts[1]), start >= 0, end >= start else {
            return nil
        }
        return ByteRange(start: start, end: end)
    }
}
