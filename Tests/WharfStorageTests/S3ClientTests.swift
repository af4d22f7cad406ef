import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import WharfStorage

/// The S3 client against a real S3 server: Ceph's RADOS Gateway, which `scripts/test.sh` starts with
/// `scripts/s3-server.sh` and names in `WHARF_TEST_S3` (run that script yourself to run these alone).
@Suite struct S3ClientTests {
    static let endpoint = ProcessInfo.processInfo.environment["WHARF_TEST_S3"]
    static let credentials = S3Credentials(
        accessKey: ProcessInfo.processInfo.environment["S3_ACCESS_KEY"] ?? "WHARFTESTACCESS",
        secretKey: ProcessInfo.processInfo.environment["S3_SECRET_KEY"] ?? "wharf-test-secret-key-0123456789")

    /// A client of a new bucket of its own.
    func withBucket(_ body: (S3Client) async throws -> Void) async throws {
        let url = try #require(
            Self.endpoint, "no S3 server: start one with scripts/s3-server.sh start DIR and set WHARF_TEST_S3 to its URL")
        let client = try S3Client(
            endpoint: .init(url: url, bucket: "wharf-\(UUID().uuidString.lowercased())", region: "us-east-1"),
            credentials: Self.credentials)
        do {
            try await client.createBucket()
            try await client.createBucket()  // ours already: fine
            try await body(client)
        } catch {
            try await client.shutdown()
            throw error
        }
        try await client.shutdown()
    }

    static func bytes(_ count: Int, seed: UInt8) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) ^ seed } }

    static func collect(_ response: HTTPClientResponse) async throws -> [UInt8] {
        Array(buffer: try await response.body.collect(upTo: 64 << 20))
    }

    /// A body that arrives in 64 KiB pieces, as a blob upload's does.
    static func stream(_ bytes: [UInt8]) -> HTTPClientRequest.Body {
        let pieces = stride(from: 0, to: bytes.count, by: 64 << 10).map {
            ByteBuffer(bytes: bytes[$0..<min($0 + (64 << 10), bytes.count)])
        }
        let body = AsyncStream<ByteBuffer> { continuation in
            for piece in pieces { continuation.yield(piece) }
            continuation.finish()
        }
        return .stream(body, length: .known(Int64(bytes.count)))
    }

    @Test func objectsStreamInAndOutWithRangesSizesAndAwkwardKeys() async throws {
        try await withBucket { s3 in
            let data = Self.bytes(1 << 20, seed: 7)
            let key = "blobs/a b/ü+%=&~.bin"
            try await s3.put(key, body: Self.stream(data), length: Int64(data.count))
            #expect(try await s3.size(of: key) == Int64(data.count))
            #expect(try await Self.collect(s3.get(key)) == data)
            let part = try await s3.get(key, range: 1000...1999)
            #expect(part.status.code == 206)
            #expect(try await Self.collect(part) == Array(data[1000...1999]))

            try await s3.copy(key, to: "copied")
            #expect(try await Self.collect(s3.get("copied")) == data)
            try await s3.delete(key)
            try await s3.delete(key)  // gone already: no error
            #expect(try await s3.size(of: key) == nil)
            await #expect(throws: S3Error.self) { try await s3.get(key) }
            do {
                _ = try await s3.get(key)
            } catch let error as S3Error {
                #expect(error.status == 404 && error.code == "NoSuchKey")
            }
        }
    }

    /// What S3 copies past 5 GiB, a multipart upload of ranges, shown with small parts.
    @Test func aLargeCopyGoesByRanges() async throws {
        try await withBucket { s3 in
            let data = Self.bytes((11 << 20) + 3, seed: 5)
            try await s3.put("big", buffer: ByteBuffer(bytes: data))
            try await s3.copy("big", to: "by-ranges", size: Int64(data.count), singleLimit: 0, partSize: 5 << 20)
            #expect(try await Self.collect(s3.get("by-ranges")) == data)
            #expect(try await s3.multipartUploads(prefix: "").isEmpty)
            await #expect(throws: S3Error.self) {
                try await s3.copy("missing", to: "nowhere", size: 6 << 20, singleLimit: 0, partSize: 5 << 20)
            }
            #expect(try await s3.multipartUploads(prefix: "").isEmpty)
        }
    }

    @Test func listingsPage() async throws {
        try await withBucket { s3 in
            for i in 0..<5 { try await s3.put("list/\(i)", body: Self.stream([UInt8(i)]), length: 1) }
            try await s3.put("other", body: Self.stream([9]), length: 1)
            var keys: [String] = []
            var token: String?
            var pages = 0
            repeat {
                let page = try await s3.list(prefix: "list/", after: token, limit: 2)
                keys += page.objects.map(\.key)
                #expect(page.objects.allSatisfy { $0.size == 1 })
                token = page.next
                pages += 1
            } while token != nil
            #expect(keys == (0..<5).map { "list/\($0)" } && pages == 3)
        }
    }

    @Test func multipartUploadsJoinAbortAndList() async throws {
        try await withBucket { s3 in
            let first = Self.bytes(5 << 20, seed: 1)
            let last = Self.bytes(1000, seed: 2)
            let upload = try await s3.startMultipart("joined")
            let etags = [
                try await s3.uploadPart("joined", upload: upload, number: 1, body: Self.stream(first), length: 5 << 20),
                try await s3.uploadPart("joined", upload: upload, number: 2, body: Self.stream(last), length: 1000),
            ]
            #expect(try await s3.multipartUploads(prefix: "").map(\.upload) == [upload])
            try await s3.completeMultipart("joined", upload: upload, parts: [(1, etags[0]), (2, etags[1])])
            #expect(try await s3.size(of: "joined") == Int64(first.count + last.count))
            #expect(
                try await Self.collect(s3.get("joined", range: Int64(first.count - 10)...Int64(first.count + 9)))
                    == Array(first.suffix(10) + last.prefix(10)))
            #expect(try await s3.multipartUploads(prefix: "").isEmpty)

            let dropped = try await s3.startMultipart("dropped")
            _ = try await s3.uploadPart("dropped", upload: dropped, number: 1, body: Self.stream(last), length: 1000)
            try await s3.abortMultipart("dropped", upload: dropped)
            try await s3.abortMultipart("dropped", upload: dropped)  // gone already: no error
            #expect(try await s3.multipartUploads(prefix: "").isEmpty)
            #expect(try await s3.size(of: "dropped") == nil)
            // A part below S3's 5 MiB minimum, then another: the completion is refused, and says why.
            let small = try await s3.startMultipart("small")
            let parts = [
                try await s3.uploadPart("small", upload: small, number: 1, body: Self.stream(last), length: 1000),
                try await s3.uploadPart("small", upload: small, number: 2, body: Self.stream(last), length: 1000),
            ]
            await #expect(throws: S3Error.self) {
                try await s3.completeMultipart("small", upload: small, parts: [(1, parts[0]), (2, parts[1])])
            }
            try await s3.abortMultipart("small", upload: small)
        }
    }

    @Test func aWrongSecretIsRefused() async throws {
        let url = try #require(Self.endpoint, "no S3 server: see scripts/s3-server.sh")
        let s3 = try S3Client(
            endpoint: .init(url: url, bucket: "wharf-refused", region: "us-east-1"),
            credentials: .init(accessKey: Self.credentials.accessKey, secretKey: "not-the-secret"))
        do {
            try await s3.createBucket()
            Issue.record("a wrong secret was accepted")
        } catch let error as S3Error {
            #expect(error.status == 403 && error.code == "SignatureDoesNotMatch", "\(error)")
        }
        try await s3.shutdown()
    }
}
