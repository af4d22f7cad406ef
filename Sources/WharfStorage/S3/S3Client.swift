import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization
import WharfCore

/// Where a bucket is and how to reach it.
package struct S3Endpoint: Sendable, Equatable {
    /// `http(s)://host[:port]`, without a path.
    package let url: String
    package let bucket: String
    package let region: String
    /// `/bucket/key` on the endpoint's host (RGW, MinIO), else `bucket.host/key` (virtual-hosted, AWS).
    package let pathStyle: Bool
    /// A PEM file of the certificates to trust for TLS, else the system's.
    package let caFile: String?

    package init(url: String, bucket: String, region: String, pathStyle: Bool = true, caFile: String? = nil) {
        self.url = url.hasSuffix("/") ? String(url.dropLast()) : url
        self.bucket = bucket
        self.region = region
        self.pathStyle = pathStyle
        self.caFile = caFile
    }
}

/// An error answer of S3, with its code (`NoSuchKey`, `NoSuchUpload`, …). A request that got no answer is a 503.
package struct S3Error: Error, CustomStringConvertible {
    package let operation: String
    package let status: Int
    package let code: String
    package let message: String

    package var description: String { "S3 \(operation): \(status) \(code)\(message.isEmpty ? "" : ": \(message)")" }
}

/// The S3 calls a blob store needs, signed with SigV4, bodies streamed both ways (never a whole object in memory).
/// Written against RGW's behaviour as well as AWS's: `CompleteMultipartUpload` may answer without an ETag, and
/// `x-amz-checksum-*` is not relied on (Wharf hashes what it streams).
package final class S3Client: Sendable {
    package let endpoint: S3Endpoint
    private let signer: S3Signer
    private let http: HTTPClient
    private let scheme: String
    private let host: String
    /// Requests sent so far (the tests count a download's).
    package let requestsSent = Atomic<Int>(0)

    package init(endpoint: S3Endpoint, credentials: S3Credentials) throws {
        guard let url = URL(string: endpoint.url), let scheme = url.scheme, ["http", "https"].contains(scheme),
            let host = url.host, url.path.isEmpty || url.path == "/"
        else { throw S3Error(operation: "configure", status: 0, code: "InvalidEndpoint", message: endpoint.url) }
        self.endpoint = endpoint
        self.scheme = scheme
        let hostPort = url.port.map { "\(host):\($0)" } ?? host
        self.host = endpoint.pathStyle ? hostPort : "\(endpoint.bucket).\(hostPort)"
        signer = S3Signer(credentials: credentials, region: endpoint.region)
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(10), read: .seconds(120)))
        if let caFile = endpoint.caFile {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            configuration.tlsConfiguration = tls
        }
        http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    package func shutdown() async throws { try await http.shutdown() }

    // MARK: Objects

    /// Creates the bucket; one that exists already and is ours is fine.
    package func createBucket() async throws {
        let response = try await send("PUT", key: nil, operation: "CreateBucket", accept: [200, 409])
        if response.status.code == 409 {
            let error = try await Self.error(response, operation: "CreateBucket")
            guard error.code == "BucketAlreadyOwnedByYou" else { throw error }
        } else {
            _ = try await response.body.collect(upTo: 1 << 16)
        }
    }

    /// Makes sure the bucket exists: a listing of one key, and the bucket made when S3 says there is none.
    package func ensureBucket() async throws {
        do {
            _ = try await list(prefix: "", limit: 1)
        } catch let error as S3Error where error.code == "NoSuchBucket" {
            try await createBucket()
        }
    }

    /// Streams `length` bytes of `body` into the object `key` (unsigned payload, with its length).
    package func put(_ key: String, body: HTTPClientRequest.Body, length: Int64) async throws {
        let response = try await send(
            "PUT", key: key, operation: "PutObject", headers: [("Content-Length", String(length))], body: body)
        _ = try await response.body.collect(upTo: 1 << 16)
    }

    /// Writes a buffer held in memory as the object `key`.
    package func put(_ key: String, buffer: ByteBuffer) async throws {
        try await put(key, body: .bytes(buffer), length: Int64(buffer.readableBytes))
    }

    /// A small object whole, at most `limit` bytes of it.
    package func object(_ key: String, upTo limit: Int) async throws -> ByteBuffer {
        try await get(key).body.collect(upTo: limit)
    }

    /// The object, or the bytes `range` (inclusive) of it; the body streams. Throws `NoSuchKey` when it is absent.
    package func get(_ key: String, range: ClosedRange<Int64>? = nil) async throws -> HTTPClientResponse {
        try await send(
            "GET", key: key, operation: "GetObject",
            headers: range.map { [("Range", "bytes=\($0.lowerBound)-\($0.upperBound)")] } ?? [], accept: [200, 206])
    }

    /// The object's first `count` bytes (all of a shorter one) and its whole size, in one request; nil when there
    /// is no such object.
    package func firstBytes(of key: String, count: Int) async throws -> (bytes: ByteBuffer, size: Int64)? {
        let response = try await send(
            "GET", key: key, operation: "GetObject", headers: [("Range", "bytes=0-\(count - 1)")], accept: [200, 206, 404, 416])
        let bytes = try await response.body.collect(upTo: max(count, 1 << 16))
        switch response.status.code {
        case 404: return nil
        case 416: return (bytes: ByteBuffer(), size: 0)  // an empty object: no byte 0 to start at
        case 206:
            // `Content-Range: bytes 0-175/4096`: the size follows the slash.
            guard let total = response.headers.first(name: "Content-Range")?.split(separator: "/").last.flatMap({ Int64($0) })
            else { throw S3Error(operation: "GetObject", status: 206, code: "NoContentRange", message: key) }
            return (bytes, total)
        default: return (bytes, Int64(bytes.readableBytes))  // 200: the whole object, shorter than the range
        }
    }

    /// The object's size, or nil when there is no such object.
    package func size(of key: String) async throws -> Int64? {
        let response = try await send("HEAD", key: key, operation: "HeadObject", accept: [200, 404])
        guard response.status.code == 200 else { return nil }
        return response.headers.first(name: "Content-Length").flatMap { Int64($0) }
    }

    /// Deletes the object; an absent one is no error (S3 answers 204 either way).
    package func delete(_ key: String) async throws {
        let response = try await send("DELETE", key: key, operation: "DeleteObject", accept: [200, 204, 404])
        _ = try await response.body.collect(upTo: 1 << 16)
    }

    /// Copies an object within the bucket, on the server.
    package func copy(_ source: String, to key: String) async throws {
        let response = try await send(
            "PUT", key: key, operation: "CopyObject", headers: [("x-amz-copy-source", copySource(source))])
        _ = try await Self.answer(response, operation: "CopyObject")
    }

    /// S3 copies at most 5 GiB in one request.
    package static let largestSingleCopy: Int64 = 5 << 30

    /// Copies an object of `size` bytes on the server: in one request up to `singleLimit`, else as a multipart upload
    /// of `partSize` ranges (5 MiB to 5 GiB each).
    package func copy(
        _ source: String, to key: String, size: Int64, singleLimit: Int64 = largestSingleCopy, partSize: Int64 = 1 << 30
    ) async throws {
        guard size > singleLimit else { return try await copy(source, to: key) }
        try await multipart(key) { upload in
            try await copyParts(source, 0..<size, into: key, upload: upload, firstNumber: 1, partSize: partSize)
        }
    }

    /// Writes `key` anew from `first` (at least 5 MiB, S3's smallest part but the last) followed by the bytes of
    /// `source` from `first.readableBytes` to `size`, which S3 copies itself: the object changes at once, whole.
    package func write(_ key: String, first: ByteBuffer, thenCopying source: String, size: Int64, partSize: Int64 = 1 << 30)
        async throws
    {
        try await multipart(key) { upload in
            let etag = try await uploadPart(key, upload: upload, number: 1, buffer: first)
            let rest = try await copyParts(
                source, Int64(first.readableBytes)..<size, into: key, upload: upload, firstNumber: 2, partSize: partSize)
            return [(1, etag)] + rest
        }
    }

    /// A multipart upload of the parts `body` uploads, completed, or aborted when it fails.
    private func multipart(_ key: String, _ body: (String) async throws -> [(number: Int, etag: String)]) async throws {
        let upload = try await startMultipart(key)
        do {
            try await completeMultipart(key, upload: upload, parts: try await body(upload))
        } catch {
            try? await abortMultipart(key, upload: upload)
            throw error
        }
    }

    /// Copies `range` of `source` into parts of `upload`, numbered from `firstNumber`, each `partSize` long but the last.
    private func copyParts(
        _ source: String, _ range: Range<Int64>, into key: String, upload: String, firstNumber: Int, partSize: Int64
    ) async throws -> [(number: Int, etag: String)] {
        var parts = [(number: Int, etag: String)]()
        for (index, start) in stride(from: range.lowerBound, to: range.upperBound, by: Int(partSize)).enumerated() {
            let number = firstNumber + index
            let end = min(start + partSize, range.upperBound) - 1
            let response = try await send(
                "PUT", key: key, query: [("partNumber", String(number)), ("uploadId", upload)], operation: "UploadPartCopy",
                headers: [("x-amz-copy-source", copySource(source)), ("x-amz-copy-source-range", "bytes=\(start)-\(end)")])
            let text = try await Self.answer(response, operation: "UploadPartCopy")
            guard let etag = S3XML.values(of: "ETag", in: text).first else {
                throw S3Error(operation: "UploadPartCopy", status: 200, code: "NoETag", message: "part \(number)")
            }
            parts.append((number, etag))
        }
        return parts
    }

    /// A URL that reads `key` without credentials until `expires` from now.
    package func presignedURL(_ key: String, expires: Duration) -> String {
        let path = path(key)
        let query = S3Signer.canonicalQuery(signer.presign(host: host, path: path, expires: expires))
        return "\(scheme)://\(host)\(S3Signer.encodePath(path))?\(query)"
    }

    /// The request path of `key` (nil: the bucket), not yet percent-encoded: path-style names the bucket first.
    private func path(_ key: String?) -> String {
        var path = endpoint.pathStyle ? "/\(endpoint.bucket)" : ""
        if let key { path += "/" + key }
        return path.isEmpty ? "/" : path
    }

    private func copySource(_ key: String) -> String { S3Signer.encodePath("/\(endpoint.bucket)/\(key)") }

    /// The body of a 200 that may still carry an error (copies and completions can fail after their status line).
    private static func answer(_ response: HTTPClientResponse, operation: String) async throws -> String {
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        if let code = S3XML.values(of: "Code", in: text).first {
            throw S3Error(operation: operation, status: 200, code: code, message: "")
        }
        return text
    }

    /// One page (at most `limit`, S3's own limit is 1,000) of the keys under `prefix`, with their sizes and when they
    /// were written (seconds since 1970), and the token of the next page.
    package func list(prefix: String, after token: String? = nil, limit: Int = 1000) async throws -> (
        objects: [(key: String, size: Int64, modified: Double)], next: String?
    ) {
        var query = [("list-type", "2"), ("prefix", prefix), ("max-keys", String(limit))]
        if let token { query.append(("continuation-token", token)) }
        let response = try await send("GET", key: nil, query: query, operation: "ListObjectsV2")
        let text = String(buffer: try await response.body.collect(upTo: 16 << 20))
        let objects = S3XML.elements("Contents", in: text).compactMap { item -> (String, Int64, Double)? in
            guard let key = S3XML.values(of: "Key", in: item).first,
                let size = S3XML.values(of: "Size", in: item).first.flatMap({ Int64($0) })
            else { return nil }
            return (key, size, S3XML.values(of: "LastModified", in: item).first.flatMap(Self.seconds) ?? 0)
        }
        let truncated = S3XML.values(of: "IsTruncated", in: text).first == "true"
        return (objects, truncated ? S3XML.values(of: "NextContinuationToken", in: text).first : nil)
    }

    // MARK: Multipart uploads

    package func startMultipart(_ key: String) async throws -> String {
        let response = try await send("POST", key: key, query: [("uploads", "")], operation: "CreateMultipartUpload")
        let text = String(buffer: try await response.body.collect(upTo: 1 << 16))
        guard let id = S3XML.values(of: "UploadId", in: text).first else {
            throw S3Error(operation: "CreateMultipartUpload", status: 200, code: "NoUploadId", message: text)
        }
        return id
    }

    /// Streams one part (S3 wants every part but the last to be at least 5 MiB); answers its ETag.
    package func uploadPart(_ key: String, upload: String, number: Int, body: HTTPClientRequest.Body, length: Int64)
        async throws -> String
    {
        let response = try await send(
            "PUT", key: key, query: [("partNumber", String(number)), ("uploadId", upload)], operation: "UploadPart",
            headers: [("Content-Length", String(length))], body: body)
        _ = try await response.body.collect(upTo: 1 << 16)
        guard let etag = response.headers.first(name: "ETag") else {
            throw S3Error(operation: "UploadPart", status: 200, code: "NoETag", message: "part \(number)")
        }
        return etag
    }

    package func uploadPart(_ key: String, upload: String, number: Int, buffer: ByteBuffer) async throws -> String {
        try await uploadPart(key, upload: upload, number: number, body: .bytes(buffer), length: Int64(buffer.readableBytes))
    }

    /// Joins the parts, in order, into the object.
    package func completeMultipart(_ key: String, upload: String, parts: [(number: Int, etag: String)]) async throws {
        let xml =
            "<CompleteMultipartUpload>"
            + parts.map { "<Part><PartNumber>\($0.number)</PartNumber><ETag>\(S3XML.escape($0.etag))</ETag></Part>" }
            .joined() + "</CompleteMultipartUpload>"
        let bytes = Array(xml.utf8)
        let response = try await send(
            "POST", key: key, query: [("uploadId", upload)], operation: "CompleteMultipartUpload",
            headers: [("Content-Length", String(bytes.count))], body: .bytes(bytes), payload: bytes)
        _ = try await Self.answer(response, operation: "CompleteMultipartUpload")
    }

    /// Drops an unfinished multipart upload and its parts; one already gone is no error.
    package func abortMultipart(_ key: String, upload: String) async throws {
        let response = try await send(
            "DELETE", key: key, query: [("uploadId", upload)], operation: "AbortMultipartUpload",
            accept: [200, 204, 404])
        _ = try await response.body.collect(upTo: 1 << 16)
    }

    /// The unfinished multipart uploads under `prefix` (the first thousand), oldest first as S3 lists them.
    package func multipartUploads(prefix: String) async throws -> [(key: String, upload: String, initiated: String)] {
        let response = try await send(
            "GET", key: nil, query: [("uploads", ""), ("prefix", prefix)], operation: "ListMultipartUploads")
        let text = String(buffer: try await response.body.collect(upTo: 16 << 20))
        return S3XML.elements("Upload", in: text).compactMap { item in
            guard let key = S3XML.values(of: "Key", in: item).first,
                let upload = S3XML.values(of: "UploadId", in: item).first
            else { return nil }
            return (key, upload, S3XML.values(of: "Initiated", in: item).first ?? "")
        }
    }

    /// Seconds since 1970 of a time as S3 writes it (ISO 8601, with or without fractions of a second).
    package static func seconds(_ text: String) -> Double? {
        let format = ISO8601DateFormatter()
        format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = format.date(from: text) { return date.timeIntervalSince1970 }
        format.formatOptions = [.withInternetDateTime]
        return format.date(from: text)?.timeIntervalSince1970
    }

    // MARK: Requests

    /// One signed request; an answer outside `accept` is thrown as the `S3Error` its body names. `payload`, when
    /// given, is the body's bytes, signed by their hash; other bodies go unsigned.
    private func send(
        _ method: String, key: String?, query: [(String, String)] = [], operation: String,
        headers: [(String, String)] = [], body: HTTPClientRequest.Body? = nil, payload: [UInt8]? = nil,
        accept: Set<UInt> = [200]
    ) async throws -> HTTPClientResponse {
        let path = self.path(key)
        let queryString = S3Signer.canonicalQuery(query)
        var request = HTTPClientRequest(
            url: "\(scheme)://\(host)\(S3Signer.encodePath(path))\(queryString.isEmpty ? "" : "?" + queryString)")
        request.method = HTTPMethod(rawValue: method)
        let payloadHash =
            payload.map { S3Signer.hash($0) } ?? (body == nil ? S3Signer.emptyPayload : S3Signer.unsignedPayload)
        let signed = signer.sign(
            method: method, host: host, path: path, query: query, headers: headers, payloadHash: payloadHash)
        request.headers.add(name: "Host", value: host)
        for (name, value) in headers + signed { request.headers.add(name: name, value: value) }
        if let body { request.body = body }
        requestsSent.add(1, ordering: .relaxed)
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .minutes(30))
        } catch let error as RegistryError {
            throw error  // the body's own: a size limit, a digest, a client that went away
        } catch {
            throw RegistryError(
                .internalError, status: 503, "the object storage is unavailable", detail: "S3 \(operation): \(error)")
        }
        guard accept.contains(response.status.code) else { throw try await Self.error(response, operation: operation) }
        return response
    }

    private static func error(_ response: HTTPClientResponse, operation: String) async throws -> S3Error {
        let text = (try? await response.body.collect(upTo: 1 << 16)).map { String(buffer: $0) } ?? ""
        return S3Error(
            operation: operation, status: Int(response.status.code),
            code: S3XML.values(of: "Code", in: text).first ?? response.status.reasonPhrase,
            message: S3XML.values(of: "Message", in: text).first ?? "")
    }
}
