import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import WharfCore

@testable import WharfServer

@Suite struct BlobAPITests {
    @Test func baseEndpointAnswersWithTheAPIVersion() async throws {
        try await withRegistry { client, _ in
            for method in [HTTPRequest.Method.get, .head] {
                let response = try await client.execute(uri: "/v2/", method: method)
                #expect(response.status == .ok)
                #expect(response.headers[.init("Docker-Distribution-API-Version")!] == "registry/2.0")
            }
        }
    }

    @Test func monolithicUploadThenHeadAndGet() async throws {
        try await withRegistry { client, _ in
            let bytes = Array("hello wharf".utf8)
            let digest = digest(bytes)
            let posted = try await client.execute(
                uri: "/v2/team/app/blobs/uploads/?digest=\(digest)", method: .post, body: buffer(bytes))
            #expect(posted.status == .created)
            #expect(posted.headers[.location] == "/v2/team/app/blobs/\(digest)")
            #expect(posted.headers[.testDigest] == digest)

            let head = try await client.execute(uri: "/v2/team/app/blobs/\(digest)", method: .head)
            #expect(head.status == .ok)
            #expect(head.headers[.contentLength] == "11")
            #expect(head.headers[.testDigest] == digest)
            #expect(head.body.readableBytes == 0)

            let get = try await client.execute(uri: "/v2/team/app/blobs/\(digest)", method: .get)
            #expect(get.status == .ok)
            #expect(Array(get.body.readableBytesView) == bytes)
        }
    }

    @Test func rangeRequests() async throws {
        try await withRegistry { client, _ in
            let bytes = Array("0123456789".utf8)
            let digest = try await client.pushBlob("r", bytes)
            let cases: [(String, String, String)] = [
                ("bytes=0-4", "01234", "bytes 0-4/10"), ("bytes=7-", "789", "bytes 7-9/10"),
                ("bytes=-3", "789", "bytes 7-9/10"), ("bytes=5-100", "56789", "bytes 5-9/10"),
            ]
            for (range, body, contentRange) in cases {
                let response = try await client.execute(uri: "/v2/r/blobs/\(digest)", method: .get, headers: [.range: range])
                #expect(response.status == .partialContent, "\(range)")
                #expect(String(buffer: response.body) == body, "\(range)")
                #expect(response.headers[.contentRange] == contentRange)
            }
            for range in ["bytes=10-", "bytes=4-2", "bytes=x-1", "bytes=-0"] {
                let response = try await client.execute(uri: "/v2/r/blobs/\(digest)", method: .get, headers: [.range: range])
                expectError(response, 416, "SIZE_INVALID")
                #expect(response.headers[.contentRange] == "bytes */10")
            }
        }
    }

    @Test func chunkedUploadWithContentRangeGapsAndOverlaps() async throws {
        try await withRegistry { client, _ in
            let start = try await client.execute(uri: "/v2/chunky/blobs/uploads/", method: .post)
            #expect(start.status == .accepted)
            #expect(start.headers[.range] == "0-0")
            let location = try #require(start.headers[.location])
            let uuid = try #require(start.headers[.testUploadUUID])
            #expect(location == "/v2/chunky/blobs/uploads/\(uuid)")

            let first = try await client.execute(
                uri: location, method: .patch, headers: [.contentRange: "0-9", .contentType: "application/octet-stream"],
                body: buffer("0123456789"))
            #expect(first.status == .accepted)
            #expect(first.headers[.range] == "0-9")

            let gap = try await client.execute(
                uri: location, method: .patch, headers: [.contentRange: "20-24"], body: buffer("abcde"))
            expectError(gap, 416, "BLOB_UPLOAD_INVALID")
            #expect(gap.headers[.range] == "0-9")
            let overlap = try await client.execute(
                uri: location, method: .patch, headers: [.contentRange: "5-9"], body: buffer("abcde"))
            expectError(overlap, 416, "BLOB_UPLOAD_INVALID")

            // A body shorter than its Content-Range is refused and leaves the upload where it stood.
            let short = try await client.execute(
                uri: location, method: .patch, headers: [.contentRange: "10-19"], body: buffer("abc"))
            expectError(short, 400, "BLOB_UPLOAD_INVALID")

            let status = try await client.execute(uri: location, method: .get)
            #expect(status.status == .noContent)
            #expect(status.headers[.range] == "0-9")

            // A streamed chunk without Content-Range appends where the upload stands.
            let streamed = try await client.execute(uri: location, method: .patch, body: buffer("abcdef"))
            #expect(streamed.status == .accepted)
            #expect(streamed.headers[.range] == "0-15")

            let all = Array("0123456789abcdefXYZ".utf8)
            let done = try await client.execute(uri: "\(location)?digest=\(digest(all))", method: .put, body: buffer("XYZ"))
            #expect(done.status == .created)
            #expect(done.headers[.location] == "/v2/chunky/blobs/\(digest(all))")
            let get = try await client.execute(uri: "/v2/chunky/blobs/\(digest(all))", method: .get)
            #expect(Array(get.body.readableBytesView) == all)
            // The session is gone once committed.
            expectError(try await client.execute(uri: location, method: .get), 404, "BLOB_UPLOAD_UNKNOWN")
            expectError(try await client.execute(uri: location, method: .patch, body: buffer("x")), 404, "BLOB_UPLOAD_UNKNOWN")
        }
    }

    @Test func wrongDigestLeavesNothingBehind() async throws {
        try await withRegistry { client, directory in
            let wrong = digest(Array("something else".utf8))
            let mono = try await client.execute(
                uri: "/v2/w/blobs/uploads/?digest=\(wrong)", method: .post, body: buffer("payload"))
            expectError(mono, 400, "DIGEST_INVALID")

            let start = try await client.execute(uri: "/v2/w/blobs/uploads/", method: .post)
            let location = try #require(start.headers[.location])
            _ = try await client.execute(uri: location, method: .patch, body: buffer("payload"))
            expectError(try await client.execute(uri: "\(location)?digest=\(wrong)", method: .put), 400, "DIGEST_INVALID")
            expectError(try await client.execute(uri: location, method: .get), 404, "BLOB_UPLOAD_UNKNOWN")
            expectError(try await client.execute(uri: "/v2/w/blobs/\(wrong)", method: .head), 404, "BLOB_UNKNOWN", head: true)
            expectError(
                try await client.execute(uri: "/v2/w/blobs/\(digest(Array("payload".utf8)))", method: .get), 404, "BLOB_UNKNOWN")
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/uploads").isEmpty)
            #expect(try FileManager.default.subpathsOfDirectory(atPath: directory + "/blobs/sha256").isEmpty)

            let noDigest = try await client.execute(uri: "/v2/w/blobs/uploads/", method: .post)
            expectError(
                try await client.execute(uri: try #require(noDigest.headers[.location]), method: .put), 400, "DIGEST_INVALID")
            let badDigest = try await client.execute(
                uri: "/v2/w/blobs/uploads/?digest=sha256:xyz", method: .post, body: buffer("a"))
            expectError(badDigest, 400, "DIGEST_INVALID")
        }
    }

    @Test func unknownAndForeignUploadIDs() async throws {
        try await withRegistry { client, _ in
            let random = UUID().uuidString.lowercased()
            for method in [HTTPRequest.Method.get, .patch, .put, .delete] {
                let response = try await client.execute(uri: "/v2/u/blobs/uploads/\(random)", method: method)
                expectError(response, 404, "BLOB_UPLOAD_UNKNOWN")
            }
            expectError(
                try await client.execute(uri: "/v2/u/blobs/uploads/..%2f..%2fwharf.db", method: .get), 404, "BLOB_UPLOAD_UNKNOWN")
            let start = try await client.execute(uri: "/v2/u/blobs/uploads/", method: .post)
            let uuid = try #require(start.headers[.testUploadUUID])
            expectError(
                try await client.execute(uri: "/v2/other/blobs/uploads/\(uuid)", method: .get), 404, "BLOB_UPLOAD_UNKNOWN")
            #expect(try await client.execute(uri: "/v2/u/blobs/uploads/\(uuid)", method: .delete).status == .noContent)
            expectError(try await client.execute(uri: "/v2/u/blobs/uploads/\(uuid)", method: .get), 404, "BLOB_UPLOAD_UNKNOWN")
        }
    }

    @Test func crossRepositoryMountAndIsolation() async throws {
        try await withRegistry { client, _ in
            let digest = try await client.pushBlob("source", Array("shared layer".utf8))
            expectError(
                try await client.execute(uri: "/v2/target/blobs/\(digest)", method: .head), 404, "BLOB_UNKNOWN", head: true)

            let mounted = try await client.execute(uri: "/v2/target/blobs/uploads/?mount=\(digest)&from=source", method: .post)
            #expect(mounted.status == .created)
            #expect(mounted.headers[.location] == "/v2/target/blobs/\(digest)")
            #expect(try await client.execute(uri: "/v2/target/blobs/\(digest)", method: .get).status == .ok)

            let fallback = try await client.execute(uri: "/v2/third/blobs/uploads/?mount=\(digest)&from=nowhere", method: .post)
            #expect(fallback.status == .accepted)
            #expect(fallback.headers[.location]?.hasPrefix("/v2/third/blobs/uploads/") == true)
        }
    }

    @Test func deleteBlob() async throws {
        try await withRegistry { client, _ in
            let digest = try await client.pushBlob("d", Array("to delete".utf8))
            #expect(try await client.execute(uri: "/v2/d/blobs/\(digest)", method: .delete).status == .accepted)
            expectError(try await client.execute(uri: "/v2/d/blobs/\(digest)", method: .get), 404, "BLOB_UNKNOWN")
            expectError(try await client.execute(uri: "/v2/d/blobs/\(digest)", method: .delete), 404, "BLOB_UNKNOWN")
        }
    }

    @Test func sha512Blobs() async throws {
        try await withRegistry { client, _ in
            let bytes = Array("sha512 content".utf8)
            let digest = WharfCore.Digest.of(bytes, algorithm: .sha512).description
            let response = try await client.execute(
                uri: "/v2/s/blobs/uploads/?digest=\(digest)", method: .post, body: buffer(bytes))
            #expect(response.status == .created)
            #expect(Array(try await client.execute(uri: "/v2/s/blobs/\(digest)", method: .get).body.readableBytesView) == bytes)
        }
    }

    @Test func blobSizeLimit() async throws {
        try await withRegistry({ $0.maxBlobBytes = 8 }) { client, directory in
            let bytes = Array("more than eight bytes".utf8)
            let response = try await client.execute(
                uri: "/v2/l/blobs/uploads/?digest=\(digest(bytes))", method: .post, body: buffer(bytes))
            expectError(response, 413, "SIZE_INVALID")
            expectError(
                try await client.execute(uri: "/v2/l/blobs/\(digest(bytes))", method: .head), 404, "BLOB_UNKNOWN", head: true)
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory + "/uploads").isEmpty)
        }
    }
}
