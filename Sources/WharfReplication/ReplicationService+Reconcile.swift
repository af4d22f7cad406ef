import Foundation
import Logging
import Synchronization
import WharfCore
import WharfStorage

/// What one reconcile of a rule found.
package struct ReconcileReport: Sendable, Codable {
    package var rule: String
    package var repositories = 0
    package var tags = 0
    package var queued = 0
    /// Target tags that point elsewhere and that the rule leaves (overwrite off, or deletes off for a moved tag).
    package var conflicts = 0
}

extension ReplicationService {
    /// Reconciles every rule whose time has come: every `reconcileInterval`, and a scheduled rule every `interval`.
    func reconcileDue() async throws {
        let now = Date().timeIntervalSince1970
        for name in ruleOrder {
            // A rule run only by hand is reconciled only by hand.
            guard let rule = rules[name]?.rule, rule.enabled, rule.triggers != [.manual] else { continue }
            var interval = seconds(settings.reconcileInterval)
            if rule.triggers.contains(.schedule), let every = rule.interval { interval = min(interval, seconds(every)) }
            let last = lastReconcile.withLock { $0[name] }
            // The first pass after start waits one interval, except for scheduled rules, which start at once.
            if last == nil, !rule.triggers.contains(.schedule) {
                lastReconcile.withLock { $0[name] = now }
                continue
            }
            guard now - (last ?? 0) >= interval else { continue }
            lastReconcile.withLock { $0[name] = now }
            do {
                _ = try await reconcile(name)
            } catch {
                logger.error("reconcile failed", metadata: ["rule": "\(name)", "error": "\(error)"])
            }
        }
    }

    /// Compares both sides of a rule and queues what differs: tags the target lacks, tags that moved (when the rule
    /// replicates deletes), in-sync tags whose referrers the target lacks, and with deletes on, tags the source no
    /// longer has. `wharf replication run` calls this.
    package func reconcile(_ name: String) async throws -> ReconcileReport {
        guard let runtime = rules[name] else { throw RuleError(field: "rule", "no rule is named '\(name)'") }
        let rule = runtime.rule
        let remote = RemoteSide(client: runtime.client)
        let local = LocalSide(registry: registry) { runtime.client.remoteInstance.withLock { $0 } }
        let (source, target): (any RegistrySide, any RegistrySide) = rule.direction == .push ? (local, remote) : (remote, local)
        var report = ReconcileReport(rule: name)
        var tasks = [ReplicationTask.New]()
        for repository in try await sourceRepositories(rule, source) where rule.repositories.matches(repository) {
            report.repositories += 1
            let destination = rule.targetName(repository)
            let sourceTags = try await source.tags(repository).filter(rule.tags.matches)
            let targetTags = Set(try await target.tags(destination).filter(rule.tags.matches))
            for tag in sourceTags {
                report.tags += 1
                func copy() {
                    tasks.append(.init(rule: name, kind: .copy, repository: repository, reference: tag, digest: nil))
                }
                guard targetTags.contains(tag) else {
                    copy()
                    continue
                }
                guard let wanted = try await source.manifestDigest(repository, tag),
                    let present = try await target.manifestDigest(destination, tag)
                else { continue }
                if wanted != present {
                    if rule.deletes && rule.overwrite { copy() } else { report.conflicts += 1 }
                } else if rule.referrers,
                    try await lacksReferrers(of: wanted, source: (source, repository), target: (target, destination))
                {
                    copy()
                }
            }
            if rule.deletes {
                for tag in targetTags.subtracting(sourceTags).sorted() {
                    tasks.append(.init(rule: name, kind: .deleteTag, repository: repository, reference: tag, digest: nil))
                }
            }
        }
        try await registry.metadata.queueReplication(tasks)
        report.queued = tasks.count
        conflicts.withLock { $0[name] = report.conflicts }
        lastReconcile.withLock { $0[name] = Date().timeIntervalSince1970 }
        logger.info(
            "replication reconciled",
            metadata: [
                "rule": "\(name)", "repositories": "\(report.repositories)", "tags": "\(report.tags)",
                "queued": "\(report.queued)", "conflicts": "\(report.conflicts)",
            ])
        return report
    }

    /// Whether the target lacks a referrer of `subject` that the source has, or one of theirs (as deep as a copy
    /// goes). Asks the target only about subjects the source has referrers of, so an image without any costs nothing.
    private func lacksReferrers(
        of subject: Digest, source: (side: any RegistrySide, repository: String),
        target: (side: any RegistrySide, repository: String), depth: Int = 0
    ) async throws -> Bool {
        guard depth < ArtifactCopier.referrerDepth else { return false }
        let wanted = try await source.side.referrers(source.repository, of: subject).compactMap { try? Digest($0.digest) }
        guard !wanted.isEmpty else { return false }
        let present = Set(try await target.side.referrers(target.repository, of: subject).compactMap { try? Digest($0.digest) })
        for digest in wanted {
            guard present.contains(digest) else { return true }
            if try await lacksReferrers(of: digest, source: source, target: target, depth: depth + 1) { return true }
        }
        return false
    }

    /// The source's repositories: its catalog, or where the remote will not list it, the rule's include patterns
    /// that name one repository outright.
    private func sourceRepositories(_ rule: ReplicationRule, _ source: any RegistrySide) async throws -> [String] {
        do {
            return try await source.repositories()
        } catch let error as RemoteError where error.status == 401 || error.status == 403 || error.status == 404 {
            let literal = rule.repositories.include.map(\.description).filter { !$0.contains("*") && !$0.contains("?") }
            guard !literal.isEmpty else { throw error }
            return literal
        }
    }
}
