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
            abstract: "The configured rules (never their credentials).", subcommands: [List.self, Show.self])

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
