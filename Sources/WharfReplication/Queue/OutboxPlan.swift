import WharfCore
import WharfStorage

/// Which tasks a change on this instance queues for the event-triggered push rules; runs inside the change's
/// transaction, so it only looks at the rules.
enum OutboxPlan {
    /// `remoteInstance`: the instance id a rule's remote has told (a Wharf), to recognise a copy that came from it.
    static func tasks(
        for change: RegistryChange, rules: [ReplicationRule], remoteInstance: (String) -> String?
    ) -> [ReplicationTask.New] {
        let repository = change.repository.value
        var tasks = [ReplicationTask.New]()
        for rule in rules where rule.enabled && rule.direction == .push && rule.triggers.contains(.event) {
            guard rule.repositories.matches(repository) else { continue }
            // A copy that came from this rule's remote does not go back to it.
            if let origin = change.origin, origin == remoteInstance(rule.name) { continue }
            func task(_ kind: ReplicationTask.Kind, _ reference: String, _ digest: String?) -> ReplicationTask.New {
                ReplicationTask.New(rule: rule.name, kind: kind, repository: repository, reference: reference, digest: digest)
            }
            switch change.kind {
            case .manifestPushed(let digest, let tags, let subject):
                for (tag, previous) in tags where rule.tags.matches(tag) {
                    // A tag that moved on the source moves on the target only when the rule replicates deletes.
                    if let previous, previous != digest.description, !rule.deletes { continue }
                    tasks.append(task(.copy, tag, digest.description))
                }
                // A referrer pushed after its subject (a signature, an SBOM) travels on its own.
                if tags.isEmpty, subject != nil, rule.referrers {
                    tasks.append(task(.copy, digest.description, digest.description))
                }
            case .tagDeleted(let tag, let digest):
                if rule.deletes, rule.tags.matches(tag) { tasks.append(task(.deleteTag, tag, digest)) }
            case .manifestDeleted(let digest):
                if rule.deletes { tasks.append(task(.deleteManifest, digest.description, digest.description)) }
            }
        }
        return tasks
    }
}
