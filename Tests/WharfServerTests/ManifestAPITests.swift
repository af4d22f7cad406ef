import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import WharfCore

@testable import WharfServer

@Suite struct ManifestAPITests {
    @Test func putGetHeadByTagAndDigestReturnTheExactBytes() async throws {
        try await withRegistry { client, _ in
            let manifest = try await client.pushImage("library/app", tag: "v1")
            let digest = digest(manifest)
            for reference in ["v1", digest] {
                // Whatever the Accept header asks for, the stored bytes come back with their own media type.
                let get = try await client.execute(
                    uri: "/v2/library/app/manifests/\(reference)", method: .get,
                    headers: [.accept: "application/vnd.docker.distribution.manifest.v2+json"])
                #expect(get.status == .ok)
                #expect(Array(get.body.readableBytesView) == manifest)
                #expect(get.headers[.contentType] == "application/vnd.oci.image.manifest.v1+json")
                #expect(get.headers[.testDigest] == digest)
                let head = try await client.execute(uri: "/v2/library/app/manifests/\(reference)", method: .head)
                #expect(head.status == .ok)
                #expect(head.headers[.contentLength] == String(manifest.count))
                #expect(head.headers[.testDigest] == digest)
            }
            expectError(try await client.execute(uri: "/v2/library/app/manifests/v2", method: .get), 404, "MANIFEST_UNKNOWN")
            expectError(
                try await client.execute(uri: "/v2/library/app/manifests/v2", method: .head), 404, "MANIFEST_UNKNOWN", head: true)
        }
    }

    @Test func putAnswersWithLocationAndDigest() async throws {
        try await withRegistry { client, _ in
            let config = try await client.pushBlob("p", Array("{}".utf8))
            let body =
                #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(config)","size":2},"layers":[]}"#
            let digest = digest(Array(body.utf8))
            let response = try await client.execute(
                uri: "/v2/p/manifests/\(digest)?tag=a&tag=b", method: .put,
                headers: [.contentType: "application/vnd.oci.image.manifest.v1+json"], body: buffer(body))
            #expect(response.status == .created)
            #expect(response.headers[.location] == "/v2/p/manifests/\(digest)")
            #expect(response.headers[.testDigest] == digest)
            let tags = try json(try await client.execute(uri: "/v2/p/tags/list", method: .get))
            #expect(tags["tags"] as? [String] == ["a", "b"])
        }
    }

    @Test func badManifestsAreRefusedAndNothingIsStored() async throws {
        try await withRegistry({ $0.maxManifestBytes = 4096 }) { client, _ in
            let config = try await client.pushBlob("bad", Array("{}".utf8))
            let unknown = digest(Array("never pushed".utf8))
            let oci = "application/vnd.oci.image.manifest.v1+json"
            func manifest(layers: String) -> String {
                #"{"schemaVersion":2,"mediaType":"\#(oci)","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(config)","size":2},"layers":[\#(layers)]}"#
            }
            let cases: [(String, String, Int, String)] = [
                ("malformed", "{not json", 400, "MANIFEST_INVALID"),
                ("schema", #"{"schemaVersion":1}"#, 400, "MANIFEST_INVALID"),
                (
                    "unknownblob", manifest(layers: #"{"mediaType":"a","digest":"\#(unknown)","size":1}"#), 400,
                    "MANIFEST_BLOB_UNKNOWN"
                ),
                ("baddigest", manifest(layers: #"{"mediaType":"a","digest":"sha256:nope","size":1}"#), 400, "MANIFEST_INVALID"),
                ("huge", manifest(layers: "") + String(repeating: " ", count: 5000), 413, "SIZE_INVALID"),
                (
                    "index",
                    #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"\#(oci)","digest":"\#(unknown)","size":3}]}"#,
                    400, "MANIFEST_BLOB_UNKNOWN"
                ),
            ]
            for (tag, body, status, code) in cases {
                let type = tag == "index" ? "application/vnd.oci.image.index.v1+json" : oci
                let response = try await client.execute(
                    uri: "/v2/bad/manifests/\(tag)", method: .put, headers: [.contentType: type], body: buffer(body))
                expectError(response, status, code)
                expectError(try await client.execute(uri: "/v2/bad/manifests/\(tag)", method: .get), 404, "MANIFEST_UNKNOWN")
            }
            let good = manifest(layers: "")
            let wrongDigest = digest(Array("other".utf8))
            let mismatch = try await client.execute(
                uri: "/v2/bad/manifests/\(wrongDigest)", method: .put, headers: [.contentType: oci], body: buffer(good))
            expectError(mismatch, 400, "DIGEST_INVALID")
            let mismatchedType = try await client.execute(
                uri: "/v2/bad/manifests/t", method: .put,
                headers: [.contentType: "application/vnd.docker.distribution.manifest.v2+json"], body: buffer(good))
            expectError(mismatchedType, 400, "MANIFEST_INVALID")
            let badTag = try await client.execute(
                uri: "/v2/bad/manifests/-tag", method: .put, headers: [.contentType: oci], body: buffer(good))
            expectError(badTag, 400, "MANIFEST_INVALID")
            let tags = try json(try await client.execute(uri: "/v2/bad/tags/list", method: .get))
            #expect(tags["tags"] as? [String] == [])
        }
    }

    @Test func deleteByTagRemovesOnlyTheTag() async throws {
        try await withRegistry { client, _ in
            let manifest = try await client.pushImage("del", tag: "v1")
            let digest = digest(manifest)
            _ = try await client.execute(
                uri: "/v2/del/manifests/v2", method: .put, headers: [.contentType: "application/vnd.oci.image.manifest.v1+json"],
                body: buffer(manifest))
            #expect(try await client.execute(uri: "/v2/del/manifests/v1", method: .delete).status == .accepted)
            expectError(try await client.execute(uri: "/v2/del/manifests/v1", method: .get), 404, "MANIFEST_UNKNOWN")
            #expect(try await client.execute(uri: "/v2/del/manifests/\(digest)", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/v2/del/manifests/v2", method: .get).status == .ok)

            #expect(try await client.execute(uri: "/v2/del/manifests/\(digest)", method: .delete).status == .accepted)
            expectError(try await client.execute(uri: "/v2/del/manifests/\(digest)", method: .get), 404, "MANIFEST_UNKNOWN")
            expectError(try await client.execute(uri: "/v2/del/manifests/v2", method: .get), 404, "MANIFEST_UNKNOWN")
            expectError(try await client.execute(uri: "/v2/del/manifests/\(digest)", method: .delete), 404, "MANIFEST_UNKNOWN")
        }
    }

    @Test func indexesNeedTheirChildren() async throws {
        try await withRegistry { client, _ in
            let child = try await client.pushImage("multi", tag: "amd64")
            let list =
                #"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(digest(child))","size":\#(child.count),"platform":{"architecture":"amd64","os":"linux"}}]}"#
            let response = try await client.execute(
                uri: "/v2/multi/manifests/latest", method: .put,
                headers: [.contentType: "application/vnd.docker.distribution.manifest.list.v2+json"], body: buffer(list))
            #expect(response.status == .created)
            let get = try await client.execute(uri: "/v2/multi/manifests/latest", method: .get)
            #expect(get.headers[.contentType] == "application/vnd.docker.distribution.manifest.list.v2+json")
            #expect(String(buffer: get.body) == list)
        }
    }

    @Test func referrersWithSubjectAndFilter() async throws {
        try await withRegistry { client, _ in
            let subject = try await client.pushImage("ref", tag: "v1")
            let subjectDigest = digest(subject)
            let empty = try await client.execute(uri: "/v2/ref/referrers/\(subjectDigest)", method: .get)
            #expect(empty.status == .ok)
            #expect(empty.headers[.contentType] == "application/vnd.oci.image.index.v1+json")
            #expect((try json(empty)["manifests"] as? [Any])?.isEmpty == true)

            let emptyConfig = try await client.pushBlob("ref", Array("{}".utf8))
            let referrer =
                #"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.sig","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"\#(emptyConfig)","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(subjectDigest)","size":\#(subject.count)},"annotations":{"k":"v"}}"#
            let put = try await client.execute(
                uri: "/v2/ref/manifests/\(digest(Array(referrer.utf8)))", method: .put,
                headers: [.contentType: "application/vnd.oci.image.manifest.v1+json"], body: buffer(referrer))
            #expect(put.status == .created)
            #expect(put.headers[.init("OCI-Subject")!] == subjectDigest)

            let listed = try json(try await client.execute(uri: "/v2/ref/referrers/\(subjectDigest)", method: .get))
            let manifests = try #require(listed["manifests"] as? [[String: Any]])
            #expect(manifests.count == 1)
            #expect(manifests.first?["digest"] as? String == digest(Array(referrer.utf8)))
            #expect(manifests.first?["artifactType"] as? String == "application/vnd.example.sig")
            #expect(manifests.first?["annotations"] as? [String: String] == ["k": "v"])

            let filtered = try await client.execute(
                uri: "/v2/ref/referrers/\(subjectDigest)?artifactType=application/other", method: .get)
            #expect(filtered.headers[.init("OCI-Filters-Applied")!] == "artifactType")
            #expect((try json(filtered)["manifests"] as? [Any])?.isEmpty == true)
            // A subject that does not exist has an empty list too.
            let unknown = try await client.execute(uri: "/v2/ref/referrers/\(digest(Array("x".utf8)))", method: .get)
            #expect(unknown.status == .ok)
            expectError(try await client.execute(uri: "/v2/ref/referrers/sha256:bad", method: .get), 400, "DIGEST_INVALID")
        }
    }
}
