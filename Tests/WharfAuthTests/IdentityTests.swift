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
        let directory = scratchDirectory("auth")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try AuthStorage(directory).identities
        try await store.addUser("alice", password: "alice-password", groups: ["ops"])
        await #expect(throws: IdentityStore.Failure.self) {
            try await store.addUser("alice", password: "again-password", groups: [])
        }
        await #expect(throws: IdentityStore.Failure.self) {
            try await store.addUser("Bad Name", password: "whatever1", groups: [])
        }
        let secret = try await store.addRobot("ci", groups: [], description: "builds", expires: nil)
        let expired = try await store.addRobot("old", groups: [], description: "", expires: IdentityStore.now() - 1)
        await #expect(throws: IdentityStore.Failure.self) {
            try await store.addRobot("ci", groups: [], description: "again", expires: nil)
        }
        let htpasswd = directory + "/htpasswd"
        try "carol:$2y$05$hUvo/MyUfhww.Fc8BkBlVuG6C6UhnaBpoWfF.osmMl89rbCqHarci\n".write(
            toFile: htpasswd, atomically: true, encoding: .utf8)
        let authenticator = await Authenticator(
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
        try await store.setRobotDisabled("ci", true)
        try await store.setPassword("alice", password: "new-alice-password")
        try await Task.sleep(for: .milliseconds(1100))
        #expect(await authenticator.authenticate(name: "robot$ci", secret: secret) == nil)
        #expect(await authenticator.current(name: "robot$ci", kind: .robot) == nil)
        #expect(await authenticator.authenticate(name: "alice", secret: "alice-password") == nil)
        #expect(await authenticator.authenticate(name: "alice", secret: "new-alice-password") != nil)
        try await store.removeUser("alice")
        try await Task.sleep(for: .milliseconds(1100))
        #expect(await authenticator.current(name: "alice", kind: .user) == nil)
        #expect(try await store.robots().map(\.name) == ["ci", "old"])
        #expect(try await store.users().isEmpty)
        await #expect(throws: IdentityStore.Failure.self) { try await store.removeUser("alice") }
        await #expect(throws: IdentityStore.Failure.self) { try await store.setRobotDisabled("nobody", true) }
    }

    /// Two servers on one store, as the instances of a cluster are on its database: what the CLI changes through
    /// either reaches both.
    @Test func instancesOnOneStoreShareTheirIdentities() async throws {
        let directory = scratchDirectory("auth")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try AuthStorage(directory).identities
        let second = try AuthStorage(directory).identities
        let onFirst = await Authenticator(store: first, htpasswdPath: nil, groups: [:], logger: Logger(label: "a"))
        let onSecond = await Authenticator(store: second, htpasswdPath: nil, groups: [:], logger: Logger(label: "b"))
        try await first.addUser("dave", password: "dave-password", groups: ["qa"])
        let secret = try await second.addRobot("deploy", groups: ["ops"], description: "", expires: nil)
        try await Task.sleep(for: .milliseconds(1100))
        for authenticator in [onFirst, onSecond] {
            #expect(
                await authenticator.authenticate(name: "dave", secret: "dave-password")
                    == Identity(name: "dave", kind: .user, groups: ["qa"]))
            #expect(await authenticator.authenticate(name: "robot$deploy", secret: secret)?.groups == ["ops"])
        }
        try await first.removeRobot("deploy")
        try await Task.sleep(for: .milliseconds(1100))
        #expect(await onSecond.authenticate(name: "robot$deploy", secret: secret) == nil)
        #expect(await onSecond.current(name: "robot$deploy", kind: .robot) == nil)
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
