import Testing
import WharfCore

@testable import WharfReplication
@testable import WharfStorage

@Suite struct RuleTests {
    static let remote = Remote(url: "https://eu.example:5443", username: "robot$sync", password: "secret")

    @Test func filtersAndRewrites() throws {
        var rule = ReplicationRule(
            name: "to-eu", direction: .push, remote: Self.remote,
            repositories: RepositoryFilter(include: ["team-a/**", "shared"], exclude: ["team-a/tmp/**"]),
            tags: try TagFilter(globs: ["v*"], regex: "release-[0-9]+"))
        rule.rewrite = NamespaceRewrite(from: "team-a", to: "mirror/team-a")
        #expect(rule.replicates(repository: "team-a/app", tag: "v1"))
        #expect(rule.replicates(repository: "team-a/app", tag: "release-12"))
        #expect(!rule.replicates(repository: "team-a/app", tag: "release-12x"))  // the regex matches whole tags
        #expect(!rule.replicates(repository: "team-a/app", tag: "latest"))
        #expect(!rule.replicates(repository: "team-a/tmp/x", tag: "v1"))
        #expect(!rule.replicates(repository: "team-b/app", tag: "v1"))
        #expect(rule.targetName("team-a/app") == "mirror/team-a/app")
        #expect(rule.targetName("team-a") == "mirror/team-a")
        #expect(rule.targetName("team-ab/app") == "team-ab/app")  // whole segments only
        rule.rewrite = NamespaceRewrite(from: "team-a", to: "")
        #expect(rule.targetName("team-a/app") == "app")
        #expect(rule.remote.description == "https://eu.example:5443 as robot$sync")  // never the password
    }

    @Test func validationNamesTheField() throws {
        func field(_ change: (inout ReplicationRule) -> Void) -> String? {
            var rule = ReplicationRule(name: "ok", direction: .push, remote: Self.remote)
            change(&rule)
            do {
                try rule.validate()
                return nil
            } catch {
                return error.field
            }
        }
        #expect(field { _ in } == nil)
        #expect(field { $0.name = "Bad Name" } == "name")
        #expect(field { $0.remote = Remote(url: "ftp://x") } == "remote.url")
        #expect(field { $0.remote = Remote(url: "https://x/path") } == "remote.url")
        #expect(field { $0.remote = Remote(url: "https://x", username: "u") } == "remote.username")
        #expect(field { $0.direction = .pull } == "triggers")  // event triggers are for push rules
        #expect(field { $0.triggers = [.schedule] } == "interval")
        #expect(field { $0.bandwidth = 10 } == "bandwidth")
        #expect(field { $0.rewrite = NamespaceRewrite(from: "Bad", to: "x") } == "rewrite.from")
        #expect(throws: RuleError.self) { try TagFilter(regex: "(") }
    }

    @Test func theOutboxQueuesWhatEachRuleReplicates() throws {
        var copyAll = ReplicationRule(name: "all", direction: .push, remote: Self.remote)
        copyAll.deletes = true
        let tagsOnly = ReplicationRule(
            name: "tags", direction: .push, remote: Self.remote, tags: try TagFilter(globs: ["v*"]))
        let pull = ReplicationRule(
            name: "pull", direction: .pull, remote: Self.remote, triggers: [.schedule])
        let rules = [copyAll, tagsOnly, pull]
        let repository = try RepositoryName("team/app")
        let digest = Digest.of(Array("m".utf8))
        func plan(_ kind: RegistryChange.Kind, origin: String? = nil) -> [String] {
            OutboxPlan.tasks(for: RegistryChange(repository: repository, kind: kind, origin: origin), rules: rules) {
                $0 == "all" ? "instance-of-eu" : nil
            }.map { "\($0.rule) \($0.kind.rawValue) \($0.reference)" }
        }
        #expect(
            plan(.manifestPushed(digest: digest, tags: [("v1", nil), ("latest", nil)], subject: nil)) == [
                "all copy v1", "all copy latest", "tags copy v1",
            ])
        // A tag that moved on the source moves on the target only for a rule that replicates deletes.
        #expect(plan(.manifestPushed(digest: digest, tags: [("v1", "sha256:old")], subject: nil)) == ["all copy v1"])
        #expect(
            plan(.manifestPushed(digest: digest, tags: [], subject: digest)) == [
                "all copy \(digest)", "tags copy \(digest)",
            ])
        #expect(plan(.manifestPushed(digest: digest, tags: [], subject: nil)).isEmpty)
        #expect(plan(.tagDeleted(tag: "v1", digest: digest.description)) == ["all delete-tag v1"])
        #expect(plan(.manifestDeleted(digest: digest)) == ["all delete-manifest \(digest)"])
        // A copy that came from a rule's remote does not go back to it.
        #expect(
            plan(.manifestPushed(digest: digest, tags: [("v1", nil)], subject: nil), origin: "instance-of-eu") == [
                "tags copy v1"
            ])
    }

    @Test func challengesAreParsed() {
        let parameters = RegistryClient.challengeParameters(
            #"Bearer realm="https://r.example/auth/token",service="wharf",scope="repository:a/b:pull,push""#)
        #expect(parameters["realm"] == "https://r.example/auth/token")
        #expect(parameters["service"] == "wharf")
        #expect(parameters["scope"] == "repository:a/b:pull,push")
    }

    @Test func lagPercentiles() {
        #expect(ReplicationService.percentile([], 0.5) == nil)
        #expect(ReplicationService.percentile([1, 2, 3, 4], 0.5) == 2)
        #expect(ReplicationService.percentile(Array(1...100).map(Double.init), 0.99) == 99)
    }
}
