import Testing
import WharfAuth
import WharfCore

@Suite struct PolicyTests {
    @Test func globsMatchWithinAndAcrossSegments() {
        let team = RepositoryPattern("team-a/**")
        #expect(team.matches("team-a/app") && team.matches("team-a/x/y"))
        #expect(!team.matches("team-a") && !team.matches("team-ab/app") && !team.matches("other/team-a/app"))
        let one = RepositoryPattern("team-a/*")
        #expect(one.matches("team-a/app") && !one.matches("team-a/x/y"))
        #expect(RepositoryPattern("**").matches("any/thing/at/all") && RepositoryPattern("**").matchesEverything)
        #expect(RepositoryPattern("app-?").matches("app-1") && !RepositoryPattern("app-?").matches("app-12"))
        #expect(RepositoryPattern("*/app").matches("x/app") && !RepositoryPattern("*/app").matches("x/y/app"))
        #expect(RepositoryPattern("exact/name").matches("exact/name") && !RepositoryPattern("exact/name").matches("exact/names"))
    }

    @Test func rolesIncludeTheOnesBelow() {
        #expect(Role.pull < .push && Role.push < .delete && Role.delete < .admin)
        #expect(Role.push.actions == ["pull", "push"])
        #expect(Role(action: "*") == .delete && Role(action: "pull") == .pull && Role(action: "fly") == nil)
    }

    let policy = AccessPolicy(
        rules: [
            .init(repositories: ["team-a/**"], role: .push, users: ["alice"], robots: [], groups: []),
            .init(repositories: ["team-a/app"], role: .delete, users: [], robots: [], groups: ["ops"]),
            .init(repositories: ["**"], role: .pull, users: ["*"], robots: [], groups: []),
            .init(repositories: ["team-a/**"], role: .pull, users: [], robots: ["ci"], groups: []),
            .init(repositories: ["**"], role: .admin, users: ["root"], robots: [], groups: []),
            .init(repositories: ["team-b/**"], role: .admin, users: ["lead"], robots: [], groups: []),
        ], anonymousPull: ["public/**"])

    @Test func theHighestMatchingRoleWins() {
        let alice = Identity(name: "alice", kind: .user, groups: ["ops"])
        #expect(policy.role(of: alice, in: "team-a/app") == .delete)  // through her group
        #expect(policy.role(of: alice, in: "team-a/web") == .push)
        #expect(policy.role(of: alice, in: "team-b/web") == .pull)  // every user may pull
        #expect(policy.allows(alice, .push, in: "team-a/web") && !policy.allows(alice, .delete, in: "team-a/web"))
    }

    @Test func robotsAndAnonymous() {
        let ci = Identity(name: "robot$ci", kind: .robot)
        #expect(policy.role(of: ci, in: "team-a/app") == .pull)
        #expect(policy.role(of: ci, in: "team-b/app") == nil)  // "*" under users is not every robot
        #expect(policy.role(of: .anonymous, in: "public/x") == .pull)
        #expect(policy.role(of: .anonymous, in: "team-a/app") == nil)
        // A user named like a robot is not the robot.
        #expect(policy.role(of: Identity(name: "ci", kind: .user), in: "team-a/web") == .pull)
    }

    @Test func registryAdminNeedsAdminOnEverything() {
        #expect(policy.isRegistryAdmin(Identity(name: "root", kind: .user)))
        #expect(!policy.isRegistryAdmin(Identity(name: "lead", kind: .user)))
        #expect(policy.allows(Identity(name: "lead", kind: .user), .admin, in: "team-b/x"))
        #expect(!policy.isRegistryAdmin(.anonymous))
    }

    @Test func scopesParseAndRejectPathTricks() throws {
        #expect(
            try ResourceAccess.parse(scope: "repository:team-a/app:pull,push registry:catalog:*")
                == [.init(type: "repository", name: "team-a/app", actions: ["pull", "push"]), .catalog])
        #expect(try ResourceAccess.parse(scope: "repository(plugin):a/b:pull+repository:c:push").count == 2)
        #expect(try ResourceAccess.parse(scope: "something:else:do").isEmpty)
        for trick in ["repository:team-a/../etc:pull", "repository:/etc/passwd:pull", "repository:A:pull", "repository"] {
            #expect(throws: RegistryError.self) { try ResourceAccess.parse(scope: trick) }
        }
        let grant = ResourceAccess(type: "repository", name: "team-a/app", actions: ["pull", "push"])
        #expect(grant.grants(.push, in: "team-a/app") && !grant.grants(.delete, in: "team-a/app"))
        #expect(!grant.grants(.pull, in: "team-a/other"))
    }
}
