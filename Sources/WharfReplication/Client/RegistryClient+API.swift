import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import WharfCore

/// A manifest as read from a registry: its bytes exactly as stored there, its media type and digest.
struct FetchedManifest: Sendable {
    let bytes: [UInt8]
    let mediaType: String
    let digest: Digest
}

extension RegistryClient {
    /// The digest a manifest reference resolves to; nil when the remote has no such manifest.
    func manifestDigest(_ repository: String, _ reference: String) async throws -> Digest? {
        let response = try await send(
            .HEAD, "/v2/\(repository)/manifests/\(reference)", scopes: [Self.pull(repository)],
            headers: ["Accept": Self.manifestTypes])
        _ = try await response.body.collect(upTo: 1 << 20)
        if response.status == .notFound { return nil }
        guard response.status == .ok else {
            throw RemoteError.refused(status: Int(response.status.code), body: ByteBuffer(), what: "HEAD manifest \(reference)")
        }
        if let header = response.headers.first(name: "Docker-Content-Digest"), let digest = try? Digest(header) {
            return digest
        }
        return try await manifest(repository, reference)?.digest
    }

    func manifest(_ repository: String, _ reference: String) async throws -> FetchedManifest? {
        let response = try await send(
            .GET, "/v2/\(repository)/manifests/\(reference)", scopes: [Self.pull(repository)],
            headers: ["Accept": Self.manifestTypes])
        if response.status == .notFound {
            _ = try? await response.body.collect(upTo: 1 << 20)
            return nil
        }
        let body = try await expect(
            response, [200], limit: Self.maxManifestBytes, what: "GET manifest \(repository):\(reference)")
        let bytes = Array(body.readableBytesView)
        let mediaType =
            response.headers.first(name: "Content-Type").map { String($0.split(separator: ";")[0]) }
            ?? MediaType.ociManifest
        let digest = Digest.of(bytes)
        if let expected = try? Digest(reference), Digest.of(bytes, algorithm: expected.algorithm) != expected {
            throw RemoteError.protocolError("manifest \(reference) from \(remote.url) does not match its digest")
        }
        return FetchedManifest(bytes: bytes, mediaType: mediaType, digest: digest)
    }

    func putManifest(_ repository: String, _ reference: String, _ manifest: FetchedManifest) async throws {
        let response = try await send(
            .PUT, "/v2/\(repository)/manifests/\(reference)", scopes: [Self.push(repository)],
            headers: ["Content-Type": manifest.mediaType], body: .bytes(ByteBuffer(bytes: manifest.bytes)))
        _ = try await expect(response, [200, 201], what: "PUT manifest \(repository):\(reference)")
    }

    /// Deletes a tag or a manifest; true when there was one.
    func deleteManifest(_ repository: String, _ reference: String) async throws -> Bool {
        let response = try await send(
            .DELETE, "/v2/\(repository)/manifests/\(reference)", scopes: [Self.delete(repository)])
        let body = try await response.body.collect(upTo: 1 << 20)
        if response.status == .notFound { return false }
        guard [200, 202, 204].contains(response.status.code) else {
            throw RemoteError.refused(status: Int(response.status.code), body: body, what: "DELETE \(repository):\(reference)")
        }
        return true
    }

    /// The blob's size when the repository has it.
    func blobSize(_ repository: String, _ digest: Digest) async throws -> Int64? {
        let response = try await send(.HEAD, "/v2/\(repository)/blobs/\(digest)", scopes: [Self.pull(repository)])
        _ = try await response.body.collect(upTo: 1 << 20)
        if response.status == .notFound { return nil }
        guard response.status == .ok else {
            throw RemoteError.refused(status: Int(response.status.code), body: ByteBuffer(), what: "HEAD blob \(digest)")
        }
        return response.headers.first(name: "Content-Length").flatMap { Int64($0) }
    }

    /// The bytes of `range` of the blob, streamed.
    func blob(_ repository: String, _ digest: Digest, range: ClosedRange<Int64>) async throws -> HTTPClientResponse.Body {
        let response = try await send(
            .GET, "/v2/\(repository)/blobs/\(digest)", scopes: [Self.pull(repository)],
            headers: ["Range": "bytes=\(range.lowerBound)-\(range.upperBound)"], timeout: .hours(12))
        // A registry that ignores Range answers 200 with the whole blob: usable only from its start.
        guard response.status == .partialContent || (response.status == .ok && range.lowerBound == 0) else {
            let body = try await response.body.collect(upTo: 1 << 20)
            throw RemoteError.refused(status: Int(response.status.code), body: body, what: "GET blob \(digest)")
        }
        return response.body
    }

    /// Starts an upload, mounting the blob instead when the remote can (`from`, or its automatic mount). Returns nil
    /// when mounted, else the upload's URL.
    func startUpload(_ repository: String, mount digest: Digest?, from source: String?) async throws -> String? {
        var query = ""
        var scopes = [Self.push(repository)]
        if let digest {
            query = "?mount=\(digest)" + (source.map { "&from=\($0)" } ?? "")
            if let source { scopes.append(Self.pull(source)) }
        }
        let response = try await send(.POST, "/v2/\(repository)/blobs/uploads/\(query)", scopes: scopes)
        _ = try await expect(response, [201, 202], what: "start upload in \(repository)")
        if response.status == .created { return nil }
        return try uploadLocation(response)
    }

    /// How many bytes of an upload the remote holds; nil when it lost the upload.
    func uploadOffset(_ location: String, repository: String) async throws -> Int64? {
        let response = try await send(.GET, location, scopes: [Self.push(repository)])
        _ = try await response.body.collect(upTo: 1 << 20)
        if response.status == .notFound { return nil }
        guard response.status == .noContent || response.status == .ok else {
            throw RemoteError.refused(status: Int(response.status.code), body: ByteBuffer(), what: "upload status")
        }
        // `Range: 0-N` holds N+1 bytes; `0-0` is read as none (Distribution says so for an empty upload, too).
        guard let range = response.headers.first(name: "Range"), let end = range.split(separator: "-").last.flatMap({ Int64($0) })
        else { return 0 }
        return end == 0 ? 0 : end + 1
    }

    /// Sends `length` bytes at `offset` of an upload; returns the upload's next URL.
    func patch<Body: AsyncSequence & Sendable>(
        _ location: String, repository: String, offset: Int64, length: Int64, body: Body
    ) async throws -> String where Body.Element == ByteBuffer {
        let response = try await send(
            .PATCH, location, scopes: [Self.push(repository)],
            headers: [
                "Content-Type": "application/octet-stream", "Content-Range": "\(offset)-\(offset + length - 1)",
                "Content-Length": String(length),
            ],
            body: .stream(body, length: .known(length)), replayable: false, timeout: .hours(12))
        _ = try await expect(response, [202], what: "PATCH upload")
        return try uploadLocation(response)
    }

    func completeUpload(_ location: String, repository: String, digest: Digest) async throws {
        let separator = location.contains("?") ? "&" : "?"
        let response = try await send(
            .PUT, location + separator + "digest=\(digest)", scopes: [Self.push(repository)],
            headers: ["Content-Length": "0"])
        _ = try await expect(response, [201, 204], what: "complete upload of \(digest)")
    }

    func tags(_ repository: String) async throws -> [String] {
        struct Page: Decodable { let tags: [String]? }
        return try await pages("/v2/\(repository)/tags/list?n=1000", scopes: [Self.pull(repository)]) { body in
            try JSONDecoder().decode(Page.self, from: body).tags ?? []
        } ?? []
    }

    /// The remote's catalog (what its credentials may list).
    func repositories() async throws -> [String] {
        struct Page: Decodable { let repositories: [String]? }
        return try await pages("/v2/_catalog?n=1000", scopes: ["registry:catalog:*"]) { body in
            try JSONDecoder().decode(Page.self, from: body).repositories ?? []
        } ?? []
    }

    /// The manifests whose `subject` is `digest`: by the referrers API, or where the remote has none, by the
    /// OCI 1.1 fallback tag `sha256-<hex>`.
    func referrers(_ repository: String, of digest: Digest) async throws -> [Descriptor] {
        struct Index: Decodable { let manifests: [Descriptor]? }
        let response = try await send(.GET, "/v2/\(repository)/referrers/\(digest)", scopes: [Self.pull(repository)])
        let body = try await response.body.collect(upTo: Self.maxManifestBytes)
        if response.status == .ok {
            return (try? JSONDecoder().decode(Index.self, from: Data(body.readableBytesView)))?.manifests ?? []
        }
        let fallback = "\(digest.algorithm.rawValue)-\(digest.hex)"
        guard let index = try await manifest(repository, fallback) else { return [] }
        return (try? JSONDecoder().decode(Index.self, from: Data(index.bytes)))?.manifests ?? []
    }

    /// Follows `Link: <…>; rel="next"` pages; nil when the first page is a 404 (no such repository).
    private func pages<T>(_ first: String, scopes: [String], _ decode: (Data) throws -> [T]) async throws -> [T]? {
        var items = [T]()
        var next: String? = first
        while let path = next {
            let response = try await send(.GET, path, scopes: scopes)
            if response.status == .notFound, items.isEmpty {
                _ = try? await response.body.collect(upTo: 1 << 20)
                return nil
            }
            let body = try await expect(response, [200], limit: 16 << 20, what: "GET \(path)")
            items += try decode(Data(body.readableBytesView))
            next = response.headers.first(name: "Link").flatMap { link in
                guard link.contains("rel=\"next\""), let start = link.firstIndex(of: "<"), let end = link.firstIndex(of: ">")
                else { return nil }
                return String(link[link.index(after: start)..<end])
            }
        }
        return items
    }

    private func uploadLocation(_ response: HTTPClientResponse) throws -> String {
        guard let location = response.headers.first(name: "Location") else {
            throw RemoteError.protocolError("the remote answered an upload without a Location")
        }
        return location.hasPrefix("http") ? location : remote.url + location
    }
}
