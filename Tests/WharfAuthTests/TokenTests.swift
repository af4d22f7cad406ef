import Foundation
import Logging
import SwiftASN1
import Testing
import WharfAuth
import X509

@Suite struct TokenTests {
    func service(_ directory: String, lifetime: Duration = .seconds(300)) async throws -> TokenService {
        var settings = TokenService.Settings(keyDirectory: directory + "/token-keys")
        settings.lifetime = lifetime
        return try await TokenService(settings: settings, logger: Logger(label: "test"))
    }

    func scratch() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("tokens-\(UUID().uuidString)").path
    }

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
        let keys = SigningKeys(path: directory + "/token-keys")
        let firstID = try #require(try keys.load()).active
        let newID = try keys.addActiveKey(.rs256)
        try await tokens.reload()
        let (new, _) = try await tokens.issue(alice, access: access, use: .access)
        let header = try JSONDecoder().decode(
            [String: String].self, from: try #require(Data(base64URL: String(new.prefix { $0 != "." }))))
        #expect(header["alg"] == "RS256" && header["kid"] == newID)
        #expect(try await tokens.verify(new, use: .access).subject == "alice")
        #expect(try await tokens.verify(old, use: .access).subject == "alice")
        #expect(throws: SigningKeys.Failure.self) { try keys.retire(newID) }  // the active key stays
        try keys.retire(firstID)
        try await tokens.reload()
        await #expect(throws: (any Error).self) { try await tokens.verify(old, use: .access) }
        #expect(try await tokens.verify(new, use: .access).subject == "alice")
        #expect(try keys.load()?.keys.map(\.algorithm) == [.rs256])
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
