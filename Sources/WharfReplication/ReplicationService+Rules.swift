import AsyncHTTPClient
import Foundation
import Logging
import Synchronization
import WharfStorage

/// Rules made through the API: stored in the metadata store (the password sealed), in force at once. The
/// configuration file's rules cannot be changed this way.
extension ReplicationService {
    /// A rule checked and ready to run: its password read from the environment when it names a variable, the
    /// client's settings made. `start` makes the client (which must then be shut down).
    struct PreparedRule {
        let rule: ReplicationRule
        let configuration: HTTPClient.Configuration

        func start(instance: String) -> RuleRuntime {
            RuleRuntime(
                rule: rule, client: RegistryClient(remote: rule.remote, origin: instance, configuration: configuration),
                throttle: rule.bandwidth.map(Throttle.init))
        }
    }

    static func prepare(_ rule: ReplicationRule) throws -> PreparedRule {
        var rule = rule
        try rule.validate()
        if rule.remote.password == nil, let variable = rule.remote.passwordEnv {
            guard let value = ProcessInfo.processInfo.environment[variable] else {
                throw RuleError(field: "remote.passwordEnv", "rule \(rule.name): the server's environment has no \(variable)")
            }
            rule.remote.password = value
        }
        return PreparedRule(rule: rule, configuration: try RegistryClient.configuration(for: rule.remote))
    }

    /// Creates (`replacing: false`) or replaces a stored rule; a replacement without a password keeps the stored one.
    package func saveRule(_ document: RuleDocument, replacing: Bool, parseDuration: (String) -> Duration?) async throws
        -> ReplicationRule
    {
        let existing = ruleSet.withLock { ($0.runtimes[document.name] != nil, $0.fromConfiguration.contains(document.name)) }
        if existing.1 {
            throw RuleConflict(description: "rule '\(document.name)' is defined in the configuration file; change it there")
        }
        if existing.0, !replacing { throw RuleConflict(description: "a rule named '\(document.name)' exists") }
        if !existing.0, replacing { throw RuleMissing(name: document.name) }
        var secret: String?
        var checked = document
        if let password = document.remote.password {
            secret = try registry.sealSecret(password)
        } else if replacing, document.remote.passwordEnv == nil {
            secret = try await storedRules().first { $0.name == document.name }?.secret
            if secret != nil { checked.remote.password = "(the stored one)" }  // for the check only
        }
        var rule = try checked.rule(parseDuration: parseDuration)
        rule.remote.password = nil
        var stored = RuleDocument(rule)
        stored.remote.password = nil
        let definition = String(decoding: try JSONEncoder().encode(stored), as: UTF8.self)
        // Checked before it is stored: a rule whose client cannot be made (a CA file that does not read) is refused.
        let prepared = try Self.prepare(withSecret(rule, secret))
        try await registry.metadata.saveReplicationRule(name: rule.name, definition: definition, secret: secret)
        await install(prepared)
        logger.notice("replication rule saved", metadata: ["rule": "\(rule.name)", "remote": "\(rule.remote.url)"])
        return rule
    }

    package func deleteRule(_ name: String) async throws {
        if ruleSet.withLock({ $0.fromConfiguration.contains(name) }) {
            throw RuleConflict(description: "rule '\(name)' is defined in the configuration file; remove it there")
        }
        guard try await registry.metadata.deleteReplicationRule(name) else { throw RuleMissing(name: name) }
        let removed = ruleSet.withLock { set -> RuleRuntime? in
            set.order.removeAll { $0 == name }
            return set.runtimes.removeValue(forKey: name)
        }
        installOutbox()
        try? await removed?.client.shutdown()
        try await registry.metadata.failReplicationTasks(ofRulesOtherThan: Set(ruleOrder))
        logger.notice("replication rule removed", metadata: ["rule": "\(name)"])
    }

    package func isFromConfiguration(_ name: String) -> Bool { ruleSet.withLock { $0.fromConfiguration.contains(name) } }

    /// A stored rule, its password still sealed.
    struct StoredRule {
        let name: String
        let rule: ReplicationRule
        let secret: String?
    }

    /// The stored rules that still read; one that does not (written by a later version, say) is logged and left.
    func storedRules() async throws -> [StoredRule] {
        try await registry.metadata.storedReplicationRules().compactMap { stored in
            do {
                var document = try JSONDecoder().decode(RuleDocument.self, from: Data(stored.definition.utf8))
                if stored.secret != nil { document.remote.password = "(sealed)" }  // for the check only
                var rule = try document.rule { Self.seconds($0) }
                rule.remote.password = nil
                return StoredRule(name: stored.name, rule: rule, secret: stored.secret)
            } catch {
                logger.error(
                    "a stored replication rule does not read", metadata: ["rule": "\(stored.name)", "error": "\(error)"])
                return nil
            }
        }
    }

    /// Puts a rule in force, replacing its earlier form (whose client is shut down).
    func install(_ prepared: PreparedRule) async {
        let runtime = prepared.start(instance: instance)
        let replaced = ruleSet.withLock { set -> RuleRuntime? in
            if set.runtimes[runtime.rule.name] == nil { set.order.append(runtime.rule.name) }
            return set.runtimes.updateValue(runtime, forKey: runtime.rule.name)
        }
        installOutbox()
        try? await replaced?.client.shutdown()
    }

    func withSecret(_ rule: ReplicationRule, _ secret: String?) throws -> ReplicationRule {
        var rule = rule
        if let secret { rule.remote.password = try registry.openSecret(secret) }
        return rule
    }

    /// Event rules fire from the outbox; with none, a push pays nothing for replication.
    func installOutbox() {
        let events = ruleSet.withLock { set in
            set.order.compactMap { set.runtimes[$0] }.filter {
                $0.rule.enabled && $0.rule.direction == .push && $0.rule.triggers.contains(.event)
            }
        }
        guard !events.isEmpty else { return registry.setOutbox(nil) }
        let rules = events.map(\.rule)
        let clients = Dictionary(uniqueKeysWithValues: events.map { ($0.rule.name, $0.client) })
        registry.setOutbox { change in
            OutboxPlan.tasks(for: change, rules: rules) { name in clients[name]?.remoteInstance.withLock { $0 } }
        }
    }

    /// `90s` as stored (whole seconds).
    static func seconds(_ text: String) -> Duration? {
        guard text.hasSuffix("s"), let value = Int64(text.dropLast()), value > 0 else { return nil }
        return .seconds(value)
    }
}

/// A rule of that name exists already, or comes from the configuration file.
package struct RuleConflict: Error, CustomStringConvertible {
    package let description: String
}

/// No stored rule has that name.
package struct RuleMissing: Error, CustomStringConvertible {
    package let name: String
    package var description: String { "no replication rule is named '\(name)'" }
}
