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
///     GET  /api/v1/replication/rules/<name>
///     POST /api/v1/replication/rules/<name>/run       reconcile the rule now
struct ReplicationAPI: Sendable {
    /// nil when no rule is configured.
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
        case .replicationRules:
            return try AdminAPI.json(service?.configuredRules.map(RuleView.init) ?? [])
        case .replicationRule:
            return try AdminAPI.json(RuleView(try rule(parameter)))
        case .replicationRun:
            let rule = try rule(parameter)
            return try AdminAPI.json(try await service!.reconcile(rule.name))
        default:
            return nil
        }
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
    let name: String
    let direction: String
    let remote: String
    let username: String?
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

    init(_ rule: ReplicationRule) {
        name = rule.name
        direction = rule.direction.rawValue
        remote = rule.remote.url
        username = rule.remote.username
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
