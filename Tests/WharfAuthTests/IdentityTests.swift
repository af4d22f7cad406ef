import Foundation
import Logging
import Testing
import WharfAuth

@Suite struct IdentityTests {
    @Test func bcryptRoundTripAndAnHtpasswdVector() throws {
        let hash = try PasswordHash.bcrypt("s3cret-password", cost: 4)
        #expect(hash.hasPrefix("$2b$04$"))
        #expect(PasswordHash.verify("s3cret-password", against: hash))
        #expect(!PasswordHash.verify("s3cret-passworD", against: hash))
        // Written by Apache's `htpasswd -nbB carol 'correct horse battery'`.
        let file = Htpasswd(
            """
            # team accounts
            carol:$2y$05$hUvo/MyUfhww.Fc8BkBlVuG6C6UhnaBpoWfF.osmMl89rbCqHarci

            md5user:$apr1$2vmLevrT$0Y49ZSLfpxYhrMkUOlLD.1
            """)
        #expect(file.rejected == ["md5user"])
        #expect(PasswordHash.verify("correct horse battery", against: try #require(file.hashes["carol"])))
        #expect(!PasswordHash.verify("correct horse", against: try #require(file.hashes["carol"])))
        #expect(!PasswordHash.verify("x", against: "$apr1$2vmLevrT$0Y49ZSLfpxYhrMkUOlLD.1"))
    }

    @Test func usersRobotsAndHtpasswdAuthenticate() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("auth-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try IdentityStore(directory: directory)
        try store.addUser("alice", password: "alice-password", groups: ["ops"])
        #expect(throws: IdentityStore.Failure.self) { try store.addUser("alice", password: "again-password", groups: []) }
        #expect(throws: IdentityStore.Failure.self) { try store.addUser("Bad Name", password: "whatever1", groups: []) }
        let secret = try store.addRobot("ci", groups: [], description: "builds", expires: nil)
        let expired = try store.addRobot("old", groups: [], description: "", expires: IdentityStore.now() - 1)
        let htpasswd = directory + "/htpasswd"
        try "carol:$2y$05$hUvo/MyUfhww.Fc8BkBlVuG6C6UhnaBpoWfF.osmMl89rbCqHarci\n".write(
            toFile: htpasswd, atomically: true, encoding: .utf8)
        let authenticator = Authenticator(
            store: store, htpasswdPath: htpasswd, groups: ["team-b": ["carol"]], logger: Logger(label: "test"))

        let alice = await authenticator.authenticate(name: "alice", secret: "alice-password")
        #expect(alice == Identity(name: "alice", kind: .user, groups: ["ops"]))
        #expect(await authenticator.authenticate(name: "alice", secret: "alice-passwordX") == nil)
        #expect(await authenticator.authenticate(name: "nobody", secret: "alice-password") == nil)
        #expect(
            await authenticator.authenticate(name: "carol", secret: "correct horse battery")
                == Identity(name: "carol", kind: .user, groups: ["team-b"]))
        #expect(await authenticator.authenticate(name: "robot$ci", secret: secret)?.kind == .robot)
        #expect(await authenticator.authenticate(name: "ci", secret: secret) == nil)  // robots log in as robot$…
        #expect(await authenticator.authenticate(name: "robot$ci", secret: secret + "x") == nil)
        #expect(await authenticator.authenticate(name: "robot$old", secret: expired) == nil)

        // Changes reach a running authenticator within a second, past its cache of checked passwords.
        try store.setRobotDisabled("ci", true)
        try store.setPassword("alice", password: "new-alice-password")
        try await Task.sleep(for: .milliseconds(1100))
        #expect(await authenticator.authenticate(name: "robot$ci", secret: secret) == nil)
        #expect(authenticator.current(name: "robot$ci", kind: .robot) == nil)
        #expect(await authenticator.authenticate(name: "alice", secret: "alice-password") == nil)
        #expect(await authenticator.authenticate(name: "alice", secret: "new-alice-password") != nil)
        try store.removeUser("alice")
        try await Task.sleep(for: .milliseconds(1100))
        #expect(authenticator.current(name: "alice", kind: .user) == nil)
        #expect(try store.robots().map(\.name) == ["ci", "old"] && store.users().isEmpty)
    }

    @Test func failedLoginsAreThrottledPerAddressAndPerUser() {
        let throttle = LoginThrottle(limit: 3, window: .seconds(60))
        for _ in 0..<3 { throttle.recordFailure(address: "192.0.2.1", user: "alice") }
        #expect(throttle.retryAfter(address: "192.0.2.1", user: "bob").map { (59...61).contains($0) } == true)
        #expect(throttle.retryAfter(address: "192.0.2.9", user: "alice") != nil)
        #expect(throttle.retryAfter(address: "192.0.2.9", user: "bob") == nil)
        let brief = LoginThrottle(limit: 1, window: .milliseconds(50))
        brief.recordFailure(address: "a", user: nil)
        #expect(brief.retryAfter(address: "a", user: nil) == 1)
        usleep(80_000)
        #expect(brief.retryAfter(address: "a", user: nil) == nil)
    }
}
