import ArgumentParser
import Foundation

struct Replication: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "See and drive replication on a running server.",
        discussion: """
            Rules come from the configuration file (replication.rules). These commands ask the server at --url \
            (admin credentials with --creds or WHARF_CREDS when access control is on).
            """,
        subcommands: [Status.self, Tasks.self, Run.self, Rules.self]
    )

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Each rule's queue, lag, bytes and failures.")
        @OptionGroup var server: ServerOptions
        @Argument(help: "Only this rule.") var rule: String?
        @Flag(help: "Print the JSON answer.") var json = false

        func run() async throws {
            let data = try await server.send("GET", "/api/v1/replication/status")
            guard !json else { return print(String(decoding: data, as: UTF8.self)) }
            let statuses = try JSONDecoder().decode([RuleStatus].self, from: data).filter { rule == nil || $0.rule == rule }
            if let rule, statuses.isEmpty { throw ValidationError("no replication rule is named '\(rule)'") }
            for status in statuses {
                let lag = [status.lagP50, status.lagP99].map { $0.map { String(format: "%.2fs", $0) } ?? "-" }
                print(
                    "\(status.rule) (\(status.direction) \(status.remote)\(status.enabled ? "" : ", disabled")): "
                        + "queued \(status.queued), running \(status.running), failed \(status.failed), done \(status.done); "
                        + "lag p50 \(lag[0]) p99 \(lag[1]); \(status.bytesCopied) bytes copied; "
                        + "last success \(Self.time(status.lastSuccess)); conflicts \(status.conflicts); "
                        + "\(status.workers) workers")
                for failure in status.failures {
                    print(
                        "  failed #\(failure.id) \(failure.kind) \(failure.repository):\(failure.reference) "
                            + "after \(failure.attempts) attempt(s): \(failure.error)")
                }
            }
        }

        static func time(_ seconds: Double?) -> String {
            guard let seconds else { return "never" }
            return ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: seconds))
        }
    }

    struct Tasks: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Replication tasks, newest first.")
        @OptionGroup var server: ServerOptions
        @Option var rule: String?
        @Option(help: "queued, running, done or failed.") var state: String?
        @Option(help: "Tasks per page (1-1000).") var limit = 100
        @Option(help: "Only tasks older than this id (the `more:` of the page before).") var before: String?

        func run() async throws {
            var query = [("limit", String(limit))]
            if let rule { query.append(("rule", rule)) }
            if let state { query.append(("state", state)) }
            if let before { query.append(("before", before)) }
            var components = URLComponents()
            components.queryItems = query.map { URLQueryItem(name: $0.0, value: $0.1) }
            let data = try await server.send("GET", "/api/v1/replication/tasks?" + (components.percentEncodedQuery ?? ""))
            struct Page: Decodable {
                struct Task: Decodable {
                    let id: Int64
                    let rule, kind, repository, reference, state: String
                    let attempts: Int
                    let error: String?
                    let bytes: Int64
                }
                let tasks: [Task]
                let next: String?
            }
            let page = try JSONDecoder().decode(Page.self, from: data)
            for task in page.tasks {
                print(
                    "#\(task.id) \(task.rule) \(task.kind) \(task.repository):\(task.reference) \(task.state) "
                        + "attempts \(task.attempts) bytes \(task.bytes)" + (task.error.map { " error: \($0)" } ?? ""))
            }
            if let next = page.next { print("more: --before \(next)") }
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Reconcile a rule now: compare both sides and queue what differs.")
        @OptionGroup var server: ServerOptions
        @Argument var rule: String

        func run() async throws {
            let name = rule.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? rule
            let data = try await server.send("POST", "/api/v1/replication/rules/\(name)/run")
            struct Report: Decodable {
                let repositories, tags, queued, conflicts: Int
            }
            let report = try JSONDecoder().decode(Report.self, from: data)
            print(
                "\(rule): \(report.repositories) repositories, \(report.tags) tags compared; \(report.queued) queued, "
                    + "\(report.conflicts) conflicts")
        }
    }

    struct Rules: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The rules: list and show them (never their credentials); add, remove, enable and disable those "
                + "made through the API (the configuration file's are changed there).",
            subcommands: [List.self, Show.self, Add.self, Remove.self, Enable.self, Disable.self])

        struct Add: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Create a rule, in force at once.")
            @OptionGroup var server: ServerOptions
            @Argument var name: String
            @Option(help: "push (here → the remote) or pull.") var direction: String
            @Option(help: "The remote: http(s)://HOST[:PORT].") var remote: String
            @Option(help: "A user or robot of the remote.") var username: String?
            @Flag(help: "Read the remote's password from standard input (stored sealed).") var passwordStdin = false
            @Option(help: "Or: the server's environment variable that holds it.") var passwordEnv: String?
            @Option(help: "The CA file the remote's certificate chains to.") var caFile: String?
            @Flag(help: "Skip certificate verification.") var insecure = false
            @Option(help: "Repositories to include (globs; default **).") var include: [String] = []
            @Option(help: "Repositories to exclude.") var exclude: [String] = []
            @Option(help: "Tags to replicate (globs; default all).") var tag: [String] = []
            @Option(help: "Or tags matching this regular expression.") var tagRegex: String?
            @Flag(help: "Leave referrers (signatures, SBOMs) out.") var noReferrers = false
            @Flag(help: "Replicate deletes and tag moves.") var deletes = false
            @Flag(help: "Skip target tags pushed there directly, and report them.") var noOverwrite = false
            @Option(help: "FROM=TO: replace a leading part of repository names on the target.") var rewrite: String?
            @Option(help: "event, schedule or manual (repeatable).") var trigger: [String] = []
            @Option(help: "For schedule: 90s, 30m, 24h.") var interval: String?
            @Option(help: "Bytes per second.") var bandwidth: Int64?
            @Flag(help: "Create it disabled.") var disabled = false

            func run() async throws {
                var remote: [String: Any] = ["url": self.remote, "insecure": insecure]
                remote["username"] = username
                remote["passwordEnv"] = passwordEnv
                remote["caFile"] = caFile
                if passwordStdin { remote["password"] = readLine(strippingNewline: true) ?? "" }
                var rule: [String: Any] = [
                    "name": name, "direction": direction, "remote": remote, "referrers": !noReferrers,
                    "deletes": deletes, "overwrite": !noOverwrite, "enabled": !disabled,
                    "repositories": ["include": include.isEmpty ? ["**"] : include, "exclude": exclude],
                    "tags": ["globs": tag] as [String: Any],
                ]
                if let tagRegex { rule["tags"] = ["globs": tag, "regex": tagRegex] }
                if let rewrite {
                    let parts = rewrite.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    guard parts.count == 2 else { throw ValidationError("--rewrite takes FROM=TO") }
                    rule["rewrite"] = ["from": String(parts[0]), "to": String(parts[1])]
                }
                if !trigger.isEmpty { rule["triggers"] = trigger }
                rule["interval"] = interval
                rule["bandwidth"] = bandwidth
                let body = try JSONSerialization.data(withJSONObject: rule)
                _ = try await server.send("POST", "/api/v1/replication/rules", json: body)
                print("rule \(name) created")
            }
        }

        struct Remove: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Delete a rule made through the API.")
            @OptionGroup var server: ServerOptions
            @Argument var name: String
            func run() async throws {
                _ = try await server.send("DELETE", "/api/v1/replication/rules/\(Rules.escaped(name))")
                print("rule \(name) removed")
            }
        }

        struct Enable: AsyncParsableCommand {
            @OptionGroup var server: ServerOptions
            @Argument var name: String
            func run() async throws { try await Rules.setEnabled(true, name, server) }
        }

        struct Disable: AsyncParsableCommand {
            @OptionGroup var server: ServerOptions
            @Argument var name: String
            func run() async throws { try await Rules.setEnabled(false, name, server) }
        }

        static func escaped(_ name: String) -> String {
            name.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? name
        }

        /// Reads the rule, and writes it back with `enabled` changed (the server keeps its password).
        static func setEnabled(_ enabled: Bool, _ name: String, _ server: ServerOptions) async throws {
            let path = "/api/v1/replication/rules/\(escaped(name))"
            guard var view = try JSONSerialization.jsonObject(with: try await server.send("GET", path)) as? [String: Any]
            else { throw ValidationError("the server's answer for rule \(name) is not a rule") }
            var remote: [String: Any] = ["url": view["remote"] ?? "", "insecure": view["insecure"] ?? false]
            for key in ["username", "passwordEnv", "caFile"] { remote[key] = view[key] }
            var document: [String: Any] = [
                "name": name, "direction": view["direction"] ?? "", "remote": remote, "enabled": enabled,
                "repositories": ["include": view["include"] ?? [], "exclude": view["exclude"] ?? []],
                "tags": ["globs": view["tags"] ?? []] as [String: Any],
            ]
            if let regex = view["tagRegex"] { document["tags"] = ["globs": view["tags"] ?? [], "regex": regex] }
            for key in ["referrers", "deletes", "overwrite", "rewrite", "triggers", "bandwidth"] { document[key] = view[key] }
            if let seconds = view["interval"] as? Int { document["interval"] = "\(seconds)s" }
            view = document
            _ = try await server.send("PUT", path, json: try JSONSerialization.data(withJSONObject: view))
            print("rule \(name) \(enabled ? "enabled" : "disabled")")
        }

        struct List: AsyncParsableCommand {
            @OptionGroup var server: ServerOptions
            func run() async throws {
                let data = try await server.send("GET", "/api/v1/replication/rules")
                struct Rule: Decodable {
                    let name, direction, remote: String
                    let include: [String]
                    let enabled: Bool
                    let triggers: [String]
                }
                for rule in try JSONDecoder().decode([Rule].self, from: data) {
                    print(
                        "\(rule.name)\t\(rule.direction)\t\(rule.remote)\t\(rule.include.joined(separator: ","))\t"
                            + "\(rule.triggers.joined(separator: ","))\t\(rule.enabled ? "enabled" : "disabled")")
                }
            }
        }

        struct Show: AsyncParsableCommand {
            @OptionGroup var server: ServerOptions
            @Argument var rule: String
            func run() async throws {
                let name = rule.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? rule
                print(String(decoding: try await server.send("GET", "/api/v1/replication/rules/\(name)"), as: UTF8.self))
            }
        }
    }
}

/// The status answer, as the command reads it.
struct RuleStatus: Decodable {
    struct Failure: Decodable {
        let id: Int64
        let kind, repository, reference, error: String
        let attempts: Int
    }
    let rule, direction, remote: String
    let enabled: Bool
    let lastSuccess, lagP50, lagP99: Double?
    let queued, running, failed, done, conflicts, workers: Int
    let bytesCopied: Int64
    let failures: [Failure]
}
