import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import Testing
import WharfAuth
import WharfCore
import WharfStorage

@testable import WharfServer

@Suite struct ListingAndRoutingTests {
    @Test func tagsListPaginatesInLexicalOrderWithLinks() async throws {
        try await withRegistry { client, _ in
            let manifest = try await client.pushImage("pages", tag: "m")
            for tag in ["e", "b", "d", "a", "c"] {
                _ = try await client.execute(
                    uri: "/v2/pages/manifests/\(tag)", method: .put,
                    headers: [.contentType: "application/vnd.oci.image.manifest.v1+json"], body: buffer(manifest))
            }
            let all = try json(try await client.execute(uri: "/v2/pages/tags/list", method: .get))
            #expect(all["name"] as? String == "pages")
            #expect(all["tags"] as? [String] == ["a", "b", "c", "d", "e", "m"])

            var seen = [String]()
            var uri: String? = "/v2/pages/tags/list?n=4"
            while let next = uri {
                let page = try await client.execute(uri: next, method: .get)
                seen += try json(page)["tags"] as? [String] ?? []
                uri = page.headers[.testLink].map { String($0.dropFirst().prefix { $0 != ">" }) }
            }
            #expect(seen == ["a", "b", "c", "d", "e", "m"])
            let last = try json(try await client.execute(uri: "/v2/pages/tags/list?n=2&last=c", method: .get))
            #expect(last["tags"] as? [String] == ["d", "e"])
            let none = try await client.execute(uri: "/v2/pages/tags/list?n=0", method: .get)
            #expect(try json(none)["tags"] as? [String] == [])
            for bad in ["-1", "x", "1.5", ""] {
                expectError(try await client.execute(uri: "/v2/pages/tags/list?n=\(bad)", method: .get), 400, "UNSUPPORTED")
            }
            expectError(try await client.execute(uri: "/v2/nothing/here/tags/list", method: .get), 404, "NAME_UNKNOWN")
        }
    }

    @Test func catalogPaginates() async throws {
        try await withRegistry { client, _ in
            for name in ["zeta", "alpha/one", "alpha/two", "beta"] { try await client.pushBlob(name, Array(name.utf8)) }
            let all = try json(try await client.execute(uri: "/v2/_catalog", method: .get))
            #expect(all["repositories"] as? [String] == ["alpha/one", "alpha/two", "beta", "zeta"])
            let first = try await client.execute(uri: "/v2/_catalog?n=2", method: .get)
            #expect(try json(first)["repositories"] as? [String] == ["alpha/one", "alpha/two"])
            #expect(first.headers[.testLink] == "</v2/_catalog?n=2&last=alpha%2Ftwo>; rel=\"next\"")
            let second = try await client.execute(uri: "/v2/_catalog?n=2&last=alpha%2Ftwo", method: .get)
            #expect(try json(second)["repositories"] as? [String] == ["beta", "zeta"])
            #expect(second.headers[.testLink] == nil)
        }
    }

    @Test func repositoryNamesWithKeywordSegments() async throws {
        try await withRegistry { client, _ in
            let name = "org/blobs/manifests/tags/uploads/referrers"
            let manifest = try await client.pushImage(name, tag: "v1")
            let get = try await client.execute(uri: "/v2/\(name)/manifests/v1", method: .get)
            #expect(Array(get.body.readableBytesView) == manifest)
            let tags = try json(try await client.execute(uri: "/v2/\(name)/tags/list", method: .get))
            #expect(tags["name"] as? String == name)
            let start = try await client.execute(uri: "/v2/\(name)/blobs/uploads/", method: .post)
            #expect(start.headers[.location]?.hasPrefix("/v2/\(name)/blobs/uploads/") == true)
        }
    }

    @Test func invalidNamesRoutesAndMethods() async throws {
        try await withRegistry { client, _ in
            let long = String(repeating: "a", count: 256)
            for name in ["Upper", "a/../b", "..", long, "a//b"] {
                expectError(try await client.execute(uri: "/v2/\(name)/tags/list", method: .get), 400, "NAME_INVALID")
                expectError(try await client.execute(uri: "/v2/\(name)/blobs/uploads/", method: .post), 400, "NAME_INVALID")
            }
            expectError(try await client.execute(uri: "/v2/a/unknown/thing", method: .get), 404, "UNSUPPORTED")
            expectError(try await client.execute(uri: "/nowhere", method: .get), 404, "UNSUPPORTED")
            expectError(try await client.execute(uri: "/v2/a/tags/list", method: .post), 405, "UNSUPPORTED")
            expectError(try await client.execute(uri: "/v2/a/manifests/sha256:zz", method: .get), 400, "DIGEST_INVALID")
            expectError(try await client.execute(uri: "/v2/a/blobs/notadigest", method: .get), 400, "DIGEST_INVALID")
        }
    }

    @Test func healthReadinessAndMetrics() async throws {
        try await withRegistry { client, _ in
            #expect(try await client.execute(uri: "/healthz", method: .get).status == .ok)
            #expect(try await client.execute(uri: "/readyz", method: .get).status == .ok)
            try await client.pushBlob("m", Array("metered".utf8))
            _ = try await client.execute(uri: "/v2/m/blobs/\(digest(Array("metered".utf8)))", method: .get)
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"wharf_http_requests_total{route="uploads",method="POST",status="201"} 1"#))
            #expect(metrics.contains(#"wharf_http_request_duration_seconds_bucket{route="blob",method="GET""#))
            #expect(metrics.contains("wharf_blobs_stored 1"))
            #expect(metrics.contains("wharf_blob_bytes_stored 7"))
            #expect(metrics.contains("wharf_http_received_bytes_total 7"))
            #expect(metrics.contains("wharf_http_sent_bytes_total 7"))
            #expect(metrics.contains("wharf_uploads_in_progress 0"))
        }
    }

    @Test func routesParseFromTheRight() throws {
        let name = try RepositoryName("a/blobs/b")
        #expect(try V2Route.parse("/v2/") == .base)
        #expect(try V2Route.parse("/v2") == .base)
        #expect(try V2Route.parse("/v2/_catalog") == .catalog)
        #expect(try V2Route.parse("/v2/a/blobs/b/tags/list") == .tags(name))
        #expect(try V2Route.parse("/v2/a/blobs/b/blobs/uploads/") == .uploads(name))
        #expect(try V2Route.parse("/v2/a/blobs/b/blobs/uploads") == .uploads(name))
        #expect(try V2Route.parse("/v2/a/blobs/b/blobs/uploads/x") == .upload(name, id: "x"))
        #expect(try V2Route.parse("/v2/a/blobs/b/blobs/sha256:x") == .blob(name, digest: "sha256:x"))
        #expect(try V2Route.parse("/v2/a/blobs/b/manifests/v1") == .manifest(name, reference: "v1"))
        #expect(try V2Route.parse("/v2/a/blobs/b/referrers/sha256:x") == .referrers(name, digest: "sha256:x"))
        #expect(try V2Route.parse("/metrics") == nil)
        #expect(try V2Route.parse("/v2x/a") == nil)
        #expect(throws: RegistryError.self) { try V2Route.parse("/v2/A/manifests/v1") }
    }

    @Test func configurationSources() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-\(UUID()).yaml").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try """
        listen: ["127.0.0.1:6000", "[::1]:6001"]
        dataDir: /srv/wharf
        log: { level: debug, format: json }
        limits: { manifestBytes: 1024, blobBytes: 2048 }
        uploads: { ttl: 2h, purgeInterval: 30s }
        """.write(toFile: file, atomically: true, encoding: .utf8)
        var configuration = WharfConfiguration()
        try configuration.apply(yamlFile: file)
        #expect(configuration.listen == ["127.0.0.1:6000", "[::1]:6001"])
        #expect(configuration.dataDirectory == "/srv/wharf")
        #expect(configuration.logLevel == "debug" && configuration.logFormat == "json")
        #expect(configuration.maxManifestBytes == 1024 && configuration.maxBlobBytes == 2048)
        #expect(configuration.uploadTTL == .seconds(7200) && configuration.uploadPurgeInterval == .seconds(30))
        try configuration.apply(environment: ["WHARF_LISTEN": "0.0.0.0:7000", "WHARF_UPLOAD_TTL": "1d"])
        #expect(configuration.listen == ["0.0.0.0:7000"])
        #expect(configuration.uploadTTL == .seconds(86400))
        #expect(throws: WharfConfiguration.Invalid.self) { try configuration.apply(environment: ["WHARF_LOG_LEVEL": "loud"]) }
        #expect(throws: WharfConfiguration.Invalid.self) { try configuration.apply(environment: ["WHARF_LISTEN": "nope"]) }
        #expect(try WharfConfiguration.hostAndPort("[::1]:5000") == ("::1", 5000))
    }

    @Test func consoleConfiguration() throws {
        var configuration = WharfConfiguration()
        #expect(configuration.consoleEnabled && configuration.consolePath == "/ui")
        try configuration.apply(environment: ["WHARF_UI": "off", "WHARF_UI_PATH": "/registry-console"])
        #expect(!configuration.consoleEnabled && configuration.consolePath == "/registry-console")
        for bad in ["ui", "/ui/", "/", "/v2", "/api/x", "/helm", "/UI", "/ui//x", "/ui?x", "/healthz"] {
            var copy = WharfConfiguration()
            #expect(throws: WharfConfiguration.Invalid.self, "\(bad)") { try copy.apply(environment: ["WHARF_UI_PATH": bad]) }
        }
    }

    @Test func storageConfiguration() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-\(UUID()).yaml").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try """
        storage:
          driver: s3
          s3: { endpoint: "https://rgw.example:7480", bucket: wharf, prefix: registry/, pathStyle: false, caFile: /ca.pem }
        """.write(toFile: file, atomically: true, encoding: .utf8)
        var configuration = WharfConfiguration()
        // The keys are missing: refused, with what to set.
        #expect(throws: WharfConfiguration.Invalid.self) { try configuration.apply(yamlFile: file) }
        try configuration.apply(environment: ["AWS_ACCESS_KEY_ID": "AKID", "WHARF_S3_SECRET_KEY": "secret"])
        let settings = try #require(configuration.storage.objectStorage)
        #expect(
            settings.endpoint
                == .init(
                    url: "https://rgw.example:7480", bucket: "wharf", region: "us-east-1",
                    pathStyle: false, caFile: "/ca.pem"))
        #expect(settings.credentials == .init(accessKey: "AKID", secretKey: "secret") && settings.prefix == "registry/")
        for bad in [
            ["WHARF_STORAGE_DRIVER": "nfs"], ["WHARF_S3_PREFIX": "/abs/"], ["WHARF_S3_PREFIX": "no-slash"],
            ["WHARF_S3_BUCKET": ""], ["WHARF_S3_ENDPOINT": "rgw:7480"], ["WHARF_S3_PATH_STYLE": "sometimes"],
        ] {
            var copy = configuration
            #expect(throws: WharfConfiguration.Invalid.self, "\(bad)") { try copy.apply(environment: bad) }
        }
        try configuration.apply(environment: ["WHARF_STORAGE_DRIVER": "filesystem"])
        #expect(configuration.storage.objectStorage == nil)
        // No endpoint: AWS's, in the region.
        var aws = WharfConfiguration()
        try aws.apply(environment: [
            "WHARF_STORAGE_DRIVER": "s3", "WHARF_S3_BUCKET": "b", "AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "a",
            "AWS_SECRET_ACCESS_KEY": "s",
        ])
        #expect(aws.storage.objectStorage?.endpoint.url == "https://s3.eu-west-1.amazonaws.com")
    }

    @Test func auditConfiguration() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-\(UUID()).yaml").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try """
        dataDir: /srv/wharf
        audit:
          trustedProxies: ["10.0.0.0/8", "::1"]
          flushInterval: 250ms
          retention: { maxAge: 30d, maxBytes: "off" }
          forward: { file: /var/log/audit.jsonl, syslog: "udp://127.0.0.1:514" }
        """.write(toFile: file, atomically: true, encoding: .utf8)
        var configuration = WharfConfiguration()
        try configuration.apply(yamlFile: file)
        #expect(configuration.auditDirectory == "/srv/wharf/audit")
        #expect(configuration.audit.flushInterval == .milliseconds(250))
        #expect(configuration.audit.retentionAge == .seconds(30 * 86400) && configuration.audit.retentionBytes == nil)
        #expect(configuration.audit.forwardFile == "/var/log/audit.jsonl")
        try configuration.apply(environment: ["WHARF_AUDIT": "off", "WHARF_AUDIT_DIR": "/audit"])
        #expect(!configuration.audit.enabled && configuration.auditDirectory == "/audit")
        for bad in [
            ["WHARF_AUDIT_TRUSTED_PROXIES": "10.0.0.0/33"], ["WHARF_AUDIT_TRUSTED_PROXIES": "proxy.example"],
            ["WHARF_AUDIT_FORWARD_SYSLOG": "tcp://1.2.3.4:514"], ["WHARF_AUDIT": "maybe"],
        ] {
            var copy = configuration
            #expect(throws: WharfConfiguration.Invalid.self) { try copy.apply(environment: bad) }
        }

        let proxies = try TrustedProxies(["10.0.0.0/8", "::1/128", "192.168.1.7"])
        #expect(proxies.client(peer: "10.1.2.3", forwardedFor: "203.0.113.9") == "203.0.113.9")
        #expect(proxies.client(peer: "10.1.2.3", forwardedFor: "spoof, 198.51.100.2, 10.4.4.4") == "198.51.100.2")
        #expect(proxies.client(peer: "::1", forwardedFor: "2001:db8::1") == "2001:db8::1")
        #expect(proxies.client(peer: "192.168.1.7", forwardedFor: "garbage") == "192.168.1.7")
        #expect(proxies.client(peer: "192.168.1.8", forwardedFor: "203.0.113.9") == "192.168.1.8")
        #expect(proxies.client(peer: "11.0.0.1", forwardedFor: "203.0.113.9") == "11.0.0.1")

        // Peer addresses as the audit records them.
        for address in ["0.0.0.0", "127.0.0.1", "10.0.100.255", "192.168.1.20", "9.99.199.255", "::1", "2001:db8::7"] {
            #expect(try SocketAddress(ipAddress: address, port: 5000).text == address)
        }
    }

    @Test func authAndTLSConfiguration() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-\(UUID()).yaml").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try """
        dataDir: /srv/wharf
        tls: { listen: ["0.0.0.0:5443"], certificate: /etc/wharf/server.pem, key: /etc/wharf/server-key.pem }
        auth:
          enabled: true
          htpasswd: /etc/wharf/htpasswd
          groups: { team-a: [alice] }
          anonymousPull: ["public/**"]
          policies:
            - { repositories: ["team-a/**"], role: push, groups: [team-a] }
            - { repositories: ["**"], role: admin, users: [root] }
          token: { realm: "https://registry.example/auth/token", lifetime: 10m, algorithm: rs256 }
          loginFailures: { limit: 5, window: 30s }
        """.write(toFile: file, atomically: true, encoding: .utf8)
        var configuration = WharfConfiguration()
        #expect(!configuration.auth.enabled)  // off in the embedded default
        try configuration.apply(yamlFile: file)
        #expect(configuration.auth.enabled && configuration.authDirectory == "/srv/wharf/auth")
        #expect(configuration.tlsListen == ["0.0.0.0:5443"] && configuration.tlsKey == "/etc/wharf/server-key.pem")
        #expect(configuration.auth.tokenLifetime == .seconds(600) && configuration.auth.algorithm == .rs256)
        #expect(configuration.auth.failureLimit == 5 && configuration.auth.failureWindow == .seconds(30))
        let alice = Identity(name: "alice", kind: .user, groups: ["team-a"])
        let policy = try configuration.auth.accessPolicy()
        #expect(policy.role(of: alice, in: "team-a/app") == .push && policy.role(of: .anonymous, in: "public/x") == .pull)

        try configuration.apply(environment: [
            "WHARF_AUTH_TOKEN": "off", "WHARF_AUTH_ANONYMOUS_PULL": "a/**, b/**", "WHARF_TLS_LISTEN": ":6443",
        ])
        #expect(!configuration.auth.tokenEnabled && configuration.auth.anonymousPull == ["a/**", "b/**"])
        #expect(configuration.tlsListen == [":6443"])
        var noKey = WharfConfiguration()
        #expect(throws: WharfConfiguration.Invalid.self) { try noKey.apply(environment: ["WHARF_TLS_LISTEN": ":6443"]) }
        var badRole = configuration
        badRole.auth.policies = [.init(repositories: ["**"], role: "owner")]
        #expect(throws: WharfConfiguration.Invalid.self) { try badRole.validate() }
        #expect(throws: WharfConfiguration.Invalid.self) { try configuration.apply(environment: ["WHARF_AUTH": "maybe"]) }
    }
}
