import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Prometheus
import WharfCore
import WharfStorage

extension DistributionAPI {
    func getBlob(_ request: Request, _ name: RepositoryName, _ digest: Digest, includeBody: Bool) async throws -> Response {
        // P2P agents fetch pieces from Wharf itself: they count what the origin serves, and follow no redirect.
        if includeBody, request.headers[.wharfP2PAgent] == nil, let location = try await registry.blobRedirect(name, digest) {
            return Response(
                status: .temporaryRedirect, headers: [.location: location, .dockerContentDigest: digest.description])
        }
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
        // The first piece is read before the status line is sent: a blob that does not read back (a damaged
        // encrypted chunk, say) is then a clean 500, not a cut-off 200.
        let first: ByteBuffer
        let end = range.end + 1
        file.willRead(from: range.start, to: end)
        do {
            first = try await read(file, at: range.start, count: BlobWindow.at(range.start, end: end))
        } catch {
            file.close()
            throw error
        }
        let bytesOut = metrics.bytesOut
        let toAgent = request.headers[.wharfP2PAgent] != nil ? metrics.bytesToAgents : nil
        let logger = registry.logger
        let body = ResponseBody(contentLength: Int(range.count)) { writer in
            defer { file.close() }
            var next = first
            var offset = range.start
            while true {
                try await writer.write(next)
                bytesOut.increment(by: Int64(next.readableBytes))
                toAgent?.increment(by: Int64(next.readableBytes))
                offset += Int64(next.readableBytes)
                guard offset < end else { break }
                do {
                    next = try await read(file, at: offset, count: BlobWindow.at(offset, end: end))
                } catch {
                    logger.error("blob read failed mid-response", metadata: ["digest": "\(digest)", "error": "\(error)"])
                    throw error
                }
            }
            try await writer.finish(nil)
        }
        return Response(status: status, headers: headers, body: body)
    }

    /// Exactly `count` bytes of the blob at `offset`.
    private func read(_ file: any BlobReader, at offset: Int64, count: Int) async throws -> ByteBuffer {
        let chunk = try await file.read(at: offset, count: count)
        guard chunk.readableBytes == count else { throw RegistryError.internalError("blob ended early on disk") }
        return chunk
    }
}
