import HTTPTypes
import Hummingbird
import NIOCore
import Prometheus
import WharfCore
import WharfStorage

extension DistributionAPI {
    static let readChunkSize = 1 << 20

    func getBlob(_ request: Request, _ name: RepositoryName, _ digest: Digest, includeBody: Bool) async throws -> Response {
        // GET opens the file up front (one metadata read, which also checks the size on disk); HEAD reads no file.
        let file = includeBody ? try await registry.openBlob(name, digest) : nil
        let size: Int64
        if let file { size = file.size } else { size = try await registry.blobSize(name, digest) }
        var headers: HTTPFields = [
            .contentType: "application/octet-stream",
            .dockerContentDigest: digest.description,
            .acceptRanges: "bytes",
            .eTag: "\"\(digest)\"",
        ]
        let status: HTTPResponse.Status
        let range: ByteRange
        switch ByteRange.parse(request.headers[.range], size: size) {
        case .whole:
            status = .ok
            range = ByteRange(start: 0, end: size - 1)
        case .range(let requested):
            status = .partialContent
            range = requested
            headers[.contentRange] = "bytes \(requested.start)-\(requested.end)/\(size)"
        case .unsatisfiable:
            file?.close()
            var response = RegistryError.sizeInvalid("requested range not satisfiable", status: 416)
                .response(includeBody: includeBody)
            response.headers[.contentRange] = "bytes */\(size)"
            return response
        }
        headers[.contentLength] = String(max(range.count, 0))
        guard let file, range.count > 0 else {
            file?.close()
            return Response(status: status, headers: headers)
        }
        let bytesOut = metrics.bytesOut
        let body = ResponseBody(contentLength: Int(range.count)) { writer in
            defer { file.close() }
            var offset = range.start
            while offset <= range.end {
                let count = Int(min(Int64(Self.readChunkSize), range.end - offset + 1))
                let chunk = try await file.read(at: offset, count: count)
                guard chunk.readableBytes == count else {
                    throw RegistryError.internalError("blob \(digest) ended early on disk")
                }
                try await writer.write(chunk)
                bytesOut.increment(by: Int64(count))
                offset += Int64(count)
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }
}
