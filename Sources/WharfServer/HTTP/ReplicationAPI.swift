import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import WharfCore
import WharfReplication
import WharfStorage

/// Replication's part of the management API (admin-only once access control is on):
///
///     GET  /api/v1/replication/status                 every rule's queue, lag, failures
///     GET  /api/v1/replication/tasks?rule=&state=&before=&limit=   tasks, newest first
///     GET  /api/v1/replication/pool                   the worker pool's size and the decisions that moved it
///     GET  /api/v1/replication/rules                  the rules (never their credentials)
///     POST /api/v1/replication/rules                  create a rule (the body: a rule as in the YAML file)
///     GET  /api/v1/replication/rules/<name>
///     PUT  /api/v1/replication/rules/<name>           replace a rule (without a password: keep the stored one)
///     DELETE /api/v1/replication/rules/<name>
///     POST /api/v1/replication/rules/<name>/run       reconcile the rule now
///
/// Rules of the configuration file are shown but not changed here (409).
struct ReplicationAPI: Sendable {
    /// nil only in tests that build no replication.
    let service: ReplicationService?

    /// nil when the endpoint is not this API's.
    func respond(to request: Request, endpoint: ServerEndpoint, parameter: String?) async throws -> Response? {
        switch endpoint {
        case .replicationStatus:
            return try AdminAPI.json(try await service?.status() ?? [])
        case .replicationTasks:
            let query = request.uri.queryParameters
            var before: Int64?
            if let text = query["before"] {
                guard let value = Int64(text) else { throw invalid("before", text) }
                before = value
            }
            var limit = 100
            if let text = query["limit"] {
                guard let value = Int(text), (1...1000).contains(value) else { throw invalid("limit", text) }
                limit = value
            }
            let rule = query["rule"].map(String.init)
            let state = query["state"].map(String.init)
            if let state, !["queued", "running", "done", "failed"].contains(state) { throw invalid("state", Substring(state)) }
            let tasks = try await service?.tasks(rule: rule, state: state, before: before, limit: limit) ?? []
            struct Page: Encodable {
                let tasks: [TaskView]
                let next: String?
            }
            return try AdminAPI.json(
                Page(tasks: tasks.map(TaskView.init), next: tasks.count == limit ? tasks.last.map { String($0.id) } : nil))
        case .replicationPool:
            return try AdminAPI.json(service?.poolStatus() ?? PoolStatus(size: 0, min: 0, max: 0, decisions: []))
        case .replicationRules where request.method == .post:
            let saved = try await save(try await document(request), replacing: false)
            var response = try AdminAPI.json(view(saved))
            response.status = .created
            return response
        case .replicationRules:
            return try AdminAPI.json(service?.configuredRules.map(view) ?? [])
        case .replicationRule where request.method == .put:
            let document = try await document(request)
            guard document.name == parameter else {
                throw RegistryError(
                    .unsupported, status: 400, "name: the body names '\(document.name.prefix(80))', the path another rule")
            }
            return try AdminAPI.json(view(try await save(document, replacing: true)))
        case .replicationRule where request.method == .delete:
            do {
                try await service?.deleteRule(parameter ?? "")
            } catch {
                throw Self.refusal(error)
            }
            return Response(status: .noContent)
        case .replicationRule:
            return try AdminAPI.json(view(try rule(parameter)))
        case .replicationRun:
            let rule = try rule(parameter)
            return try AdminAPI.json(try await service!.reconcile(rule.name))
        default:
            return nil
        }
    }

    /// A rule as the body has it (JSON, the YAML file's shape); a field that is wrong or missing is named.
    private func document(_ request: Request) async throws -> RuleDocument {
        let body = try await request.collectBody(upTo: 64 << 10, tooLarge: "a rule is at most 64 KiB")
        do {
            return try JSONDecoder().decode(RuleDocument.self, from: Data(body.readableBytesView))
        } catch let DecodingError.keyNotFound(key, context) {
            throw invalidBody((context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: "."), "is required")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw invalidBody(context.codingPath.map(\.stringValue).joined(separator: "."), "has the wrong type")
        } catch let DecodingError.dataCorrupted(context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw invalidBody(field.isEmpty ? "body" : field, field.isEmpty ? "is not JSON" : "has an unknown value")
        }
    }

    private func save(_ document: RuleDocument, replacing: Bool) async throws -> ReplicationRule {
        guard let service else { throw RegistryError.unsupported("replication is not running", status: 503) }
        do {
            return try await service.saveRule(document, replacing: replacing) {
                try? WharfConfiguration.duration($0, "interval")
            }
        } catch {
            throw Self.refusal(error)
        }
    }

    /// A rule the service refused, as the spec's error body: 400 naming the field, 404, or 409.
    private static func refusal(_ error: any Error) -> any Error {
        switch error {
        case let error as RuleError: RegistryError(.unsupported, status: 400, error.description, detail: error.field)
        case let error as RuleConflict: RegistryError(.unsupported, status: 409, error.description)
        case let error as RuleMissing: RegistryError(.unsupported, status: 404, error.description)
        default: error
        }
    }

    private func invalidBody(_ field: String, _ problem: String) -> RegistryError {
        RegistryError(.unsupported, status: 400, "\(field) \(problem)", detail: field)
    }

    private func view(_ rule: ReplicationRule) -> RuleView {
        RuleView(rule, fromConfiguration: service?.isFromConfiguration(rule.name) ?? false)
    }

    private func rule(_ name: String?) throws -> ReplicationRule {
        guard let name, let rule = service?.configuredRules.first(where: { $0.name == name }) else {
            throw RegistryError(.unsupported, status: 404, "no such replication rule", detail: String((name ?? "").prefix(80)))
        }
        return rule
    }

    private func invalid(_ name: String, _ value: Substring) -> RegistryError {
        RegistryError(.unsupported, status: 400, "invalid query parameter \(name)", detail: String(value.prefix(100)))
    }
}

/// A rule as the API shows it: everything but the remote's password.
struct RuleView: Encodable {
    /// `configuration` (the YAML file: changed there) or `api`.
    let source: String
    let name: String
    let direction: String
    let remote: String
    let username: String?
    /// The server's variable that holds the password (the password itself is never shown).
    let passwordEnv: String?
    let caFile: String?
    let insecure: Bool
    let include: [String]
    let exclude: [String]
    let tags: [String]
    let tagRegex: String?
    let referrers: Bool
    let deletes: Bool
    let overwrite: Bool
    let rewrite: [String: String]?
    let triggers: [String]
    let interval: Int64?
    let bandwidth: Int64?
    let enabled: Bool

    init(_ rule: ReplicationRule, fromConfiguration: Bool) {
        source = fromConfiguration ? "configuration" : "api"
        name = rule.name
        direction = rule.direction.rawValue
        remote = rule.remote.url
        username = rule.remote.username
        passwordEnv = rule.remote.passwordEnv
        caFile = rule.remote.caFile
        insecure = rule.remote.insecure
        include = rule.repositories.include.map(\.description)
        exclude = rule.repositories.exclude.map(\.description)
        tags = rule.tags.globs.map(\.description)
        tagRegex = rule.tags.regex
        referrers = rule.referrers
        deletes = rule.deletes
        overwrite = rule.overwrite
        rewrite = rule.rewrite.map { ["from": $0.from, "to": $0.to] }
        triggers = rule.triggers.map(\.rawValue).sorted()
        interval = rule.interval?.components.seconds
        bandwidth = rule.bandwidth
        enabled = rule.enabled
    }
}

/// A task as the API shows it.
struct TaskView: Encodable {
    let id: Int64
    let rule: String
    let kind: String
    let repository: String
    let reference: String
    let digest: String?
    let state: String
    let attempts: Int
    let error: String?
    let bytes: Int64
    let created: Double
    let updated: Double

    init(_ task: ReplicationTask) {
        id = task.id
        rule = task.rule
        kind = task.kind.rawValue
        repository = task.repository
        reference = task.reference
        digest = task.digest
        state = task.state.rawValue
        attempts = task.attempts
        error = task.error
        bytes = task.bytes
        created = task.createdAt
        updated = task.updatedAt
    }
}
