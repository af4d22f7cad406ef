import Testing

@testable import WharfCore

@Suite struct DigestTests {
    @Test func parsesSHA256AndSHA512() throws {
        let hex256 = String(repeating: "a", count: 64)
        let digest = try Digest("sha256:\(hex256)")
        #expect(digest.algorithm == .sha256)
        #expect(digest.hex == hex256)
        #expect(digest.description == "sha256:\(hex256)")
        #expect(try Digest("sha512:" + String(repeating: "0", count: 128)).algorithm == .sha512)
    }

    @Test(arguments: [
        "", "sha256", "sha256:", "sha256:abc", "SHA256:" + String(repeating: "a", count: 64),
        "sha256:" + String(repeating: "A", count: 64), "sha256:" + String(repeating: "g", count: 64),
        "sha256:" + String(repeating: "a", count: 65), "md5:d41d8cd98f00b204e9800998ecf8427e", "../etc/passwd",
    ])
    func rejectsInvalid(_ text: String) {
        #expect(throws: RegistryError.self) { try Digest(text) }
        do {
            _ = try Digest(text)
        } catch {
            #expect(error.code == .digestInvalid)
            #expect(error.httpStatus == 400)
        }
    }

    @Test func hashesKnownVectors() {
        #expect(
            Digest.of(Array("abc".utf8)).description
                == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            Digest.of(Array("abc".utf8), algorithm: .sha512).hex.hasPrefix("ddaf35a193617aba"))
    }

    @Test func hexEncodesEveryByteCollection() {
        let bytes: [UInt8] = [0x00, 0x09, 0x0a, 0x7f, 0x80, 0xab, 0xff]
        #expect(bytes.hexString == "00090a7f80abff")
        #expect(bytes[2...].hexString == "0a7f80abff")
        #expect(bytes.withUnsafeBytes { $0.hexString } == "00090a7f80abff")
        #expect(withUnsafeBytes(of: UInt64(0x0123_4567_89ab_cdef).bigEndian) { $0.hexString } == "0123456789abcdef")
        #expect([UInt8]().hexString == "")
    }

    @Test func incrementalHashEqualsOneShot() {
        let bytes = (0..<10_000).map { UInt8($0 % 251) }
        var hasher = DigestHasher(.sha256)
        hasher.update(Array(bytes[..<3333]))
        hasher.update(Array(bytes[3333...]))
        #expect(hasher.finalize() == Digest.of(bytes))
    }
}
