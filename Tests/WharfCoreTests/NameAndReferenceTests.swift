import Testing

@testable import WharfCore

@Suite struct NameAndReferenceTests {
    @Test(arguments: [
        "a", "library/ubuntu", "a/b/c/d", "my-app", "my__app", "my_app", "my.app", "a--b", "team/blobs/uploads",
        "x/manifests/tags", "0", String(repeating: "a", count: 255),
    ])
    func acceptsValidNames(_ name: String) throws {
        #expect(try RepositoryName(name).value == name)
    }

    @Test(arguments: [
        "", "Upper", "a//b", "/a", "a/", "a/../b", "..", "a/.b", "a___b", "a-", "-a", "a_", "a b", "a:b",
        String(repeating: "a", count: 256), "a/%2e%2e",
    ])
    func rejectsInvalidNames(_ name: String) {
        let error = #expect(throws: RegistryError.self) { try RepositoryName(name) }
        #expect(error?.code == .nameInvalid)
    }

    @Test func tags() throws {
        #expect(try Tag("v1.2.3-rc_1").value == "v1.2.3-rc_1")
        #expect(try Tag("_x").value == "_x")
        #expect(try Tag(String(repeating: "a", count: 128)).value.count == 128)
        for bad in ["", ".x", "-x", "a/b", "a:b", String(repeating: "a", count: 129)] {
            #expect(throws: RegistryError.self) { try Tag(bad) }
        }
    }

    @Test func references() throws {
        #expect(try Reference("latest") == .tag(try Tag("latest")))
        let digest = "sha256:" + String(repeating: "b", count: 64)
        #expect(try Reference(digest) == .digest(try Digest(digest)))
        #expect(throws: RegistryError.self) { try Reference("sha256:nothex") }
        do {
            _ = try Reference("bad/tag")
            Issue.record("accepted an invalid tag")
        } catch {
            #expect(error.code == .manifestUnknown)
        }
    }
}
