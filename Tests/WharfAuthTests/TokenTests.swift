import Foundation
import Logging
import SwiftASN1
import Testing
import WharfAuth
import WharfTestSupport
import X509

@Suite struct TokenTests {
    func service(_ directory: String, lifetime: Duration = .seconds(300)) async throws -> TokenService {
        var settings = TokenService.Settings()
        settings.lifetime = lifetime
        return try await TokenService(
            settings: settings, keys: try AuthStorage(directory).signingKeys, logger: Logger(label: "test"))
    }

    func scratch() -> String { scratchDirectory("tokens") }

    let alice = Identity(name: "alice", kind: .user)
    let access = [ResourceAccess(type: "repository", name: "team-a/app", actions: ["pull"])]

    @Test func tokensVerifyForTheirUseOnly() async throws {
        let directory = scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tokens = try await service(directory)
        let (token, issued) = try await tokens.issue(alice, access: access, use: .access)
        let claims = try await tokens.verify(token, use: .access)
        #expect(claims == issued && claims.subject == "alice" && claims.access == access && claims.kind == .user)
        await #expect(throws: (any Error).self) { try await tokens.verify(token, use: .refresh) }
        let (refresh, _) = try await tokens.issue(alice, access: [], use: .refresh)
        await #expect(throws: (any Error).self) { try await tokens.verify(refresh, use: .access) }

        // Another registry's key, the same key id: the signature fails.
        let other = try await service(scratch())
        let (foreign, _) = try await other.issue(alice, access: access, use: .access)
        await #expect(throws: (any Error).self) { try await tokens.verify(foreign, use: .access) }

        // alg none, and a flipped signature byte.
        let parts = token.split(separator: ".").map(String.init)
        let header = try #require(Data(base64URL: parts[0]))
        let none = String(decoding: header, as: UTF8.self).replacingOccurrences(of: "ES256", with: "none")
        await #expect(throws: (any Error).self) {
            try await tokens.verify(Data(none.utf8).base64URLString + "." + parts[1] + ".", use: .access)
        }
        var signature = Array(parts[2])
        signature[10] = signature[10] == "A" ? "B" : "A"
        await #expect(throws: (any Error).self) {
            try await tokens.verify(parts[0] + "." + parts[1] + "." + String(signature), use: .access)
        }
    }

    @Test func expiredTokensFail() async throws {
        let directory = scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tokens = try await service(directory, lifetime: .seconds(1))
        let (token, _) = try await tokens.issue(alice, access: access, use: .access)
        _ = try await tokens.verify(token, use: .access)
        try await Task.sleep(for: .milliseconds(2100))
        await #expect(throws: (any Error).self) { try await tokens.verify(token, use: .access) }
    }

    @Test func signingKeysRotateAndRetire() async throws {
        let directory = scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let tokens = try await service(directory)
        let (old, _) = try await tokens.issue(alice, access: access, use: .access)
        let keys = try AuthStorage(directory).signingKeys
        let firstID = try #require(try await keys.load()).active
        #expect(try await keys.ensureKey(.es256) == nil)  // there is one
        let newID = try await keys.addActiveKey(.rs256)
        try await tokens.reload()
        let (new, _) = try await tokens.issue(alice, access: access, use: .access)
        let header = try JSONDecoder().decode(
            [String: String].self, from: try #require(Data(base64URL: String(new.prefix { $0 != "." }))))
        #expect(header["alg"] == "RS256" && header["kid"] == newID)
        #expect(try await tokens.verify(new, use: .access).subject == "alice")
        #expect(try await tokens.verify(old, use: .access).subject == "alice")
        await #expect(throws: SigningKeys.Failure.self) { try await keys.retire(newID) }  // the active key stays
        await #expect(throws: SigningKeys.Failure.self) { try await keys.retire("0123456789abcdef") }
        try await keys.retire(firstID)
        try await tokens.reload()
        await #expect(throws: (any Error).self) { try await tokens.verify(old, use: .access) }
        #expect(try await tokens.verify(new, use: .access).subject == "alice")
        let left = try #require(try await keys.load())
        #expect(left.keys.map(\.algorithm) == [.rs256] && left.active == newID)
    }

    /// Instances on one key store, as a cluster's on its database: a token one signs verifies on the other, and a
    /// key one instance starts signing with is found by the other on the first token that names it, before any reload.
    @Test func instancesOnOneKeyStoreVerifyEachOthersTokens() async throws {
        let directory = scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // A cluster's instances may start at once on an empty database; one server owns a directory.
        var instances = [TokenService]()
        if TestMetadata.onPostgres {
            instances = try await withThrowingTaskGroup(of: TokenService.self) { group in
                for _ in 0..<3 { group.addTask { try await service(directory) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        } else {
            for _ in 0..<3 { instances.append(try await service(directory)) }
        }
        let first = try #require(try await AuthStorage(directory).signingKeys.load())
        #expect(first.keys.count == 1)  // one key was made between them
        for signer in instances {
            let (token, _) = try await signer.issue(alice, access: access, use: .access)
            for verifier in instances { #expect(try await verifier.verify(token, use: .access).subject == "alice") }
        }
        let rotated = try await AuthStorage(directory).signingKeys.addActiveKey(.es256)
        try await instances[0].reload()
        let (token, _) = try await instances[0].issue(alice, access: access, use: .access)
        #expect(try await instances[1].verify(token, use: .access).subject == "alice")
        let header = try JSONDecoder().decode(
            [String: String].self, from: try #require(Data(base64URL: String(token.prefix { $0 != "." }))))
        #expect(header["kid"] == rotated)
    }

    @Test func selfSignedCertificatesNameEveryHost() throws {
        let directory = scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let files = try SelfSignedCertificates.write(hosts: ["registry.test", "127.0.0.1", "::1"], into: directory)
        let ca = try Certificate(pemEncoded: String(contentsOfFile: files.caCertificate, encoding: .utf8))
        let server = try Certificate(pemEncoded: String(contentsOfFile: files.certificate, encoding: .utf8))
        #expect(server.issuer == ca.subject)
        #expect(ca.publicKey.isValidSignature(server.signature, for: server))
        #expect(try ca.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: 0))
        let names = try #require(try server.extensions.subjectAlternativeNames)
        #expect(names.contains(.dnsName("registry.test")))
        #expect(names.contains(.ipAddress(.init(contentBytes: [127, 0, 0, 1]))))
        #expect(names.count == 3)
        let mode = try FileManager.default.attributesOfItem(atPath: files.key)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(throws: SelfSignedCertificates.Failure.self) { try SelfSignedCertificates.write(hosts: [], into: directory) }
    }
}

extension Data {
    init?(base64URL text: String) {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        self.init(base64Encoded: base64)
    }

    var base64URLString: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
