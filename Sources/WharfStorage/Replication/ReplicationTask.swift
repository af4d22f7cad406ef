import WharfCore

/// What changed in the store, as the replication outbox is told inside the change's own transaction.
package struct RegistryChange: Sendable {
    package enum Kind: Sendable {
        /// A manifest stored, with the tags it was pushed to and what each pointed to before (nil: a new tag).
        case manifestPushed(digest: Digest, tags: [(tag: String, previous: String?)], subject: Digest?)
        case tagDeleted(tag: String, digest: String)
        case manifestDeleted(digest: Digest)
    }
    package let repository: RepositoryName
    package let kind: Kind
    /// The instance a replicated copy came from (its `Wharf-Replication-Origin`): rules towards it do not fire.
    package let origin: String?

    package init(repository: RepositoryName, kind: Kind, origin: String?) {
        self.repository = repository
        self.kind = kind
        self.origin = origin
    }
}

/// Decides, inside the transaction of a change, which replication tasks it queues.
package typealias OutboxPlanner = @Sendable (RegistryChange) -> [ReplicationTask.New]

/// The outbox for one change: the planner, and where the change came from.
package struct OutboxContext: Sendable {
    package let plan: OutboxPlanner
    package let origin: String?
}

/// A unit of replication work in the durable queue: copy one tag or manifest, or delete one, for one rule.
package struct ReplicationTask: Sendable, Equatable, Codable {
    package enum Kind: String, Sendable, Codable {
        /// Copy `reference` (a tag, or a digest) with everything it needs: blobs, children, referrers.
        case copy
        case deleteTag = "delete-tag"
        case deleteManifest = "delete-manifest"
    }

    package enum State: String, Sendable, Codable, CaseIterable {
        case queued, running, done, failed
    }

    /// A task to queue.
    package struct New: Sendable, Equatable {
        package var rule: String
        package var kind: Kind
        package var repository: String
        package var reference: String
        package var digest: String?

        package init(rule: String, kind: Kind, repository: String, reference: String, digest: String?) {
            self.rule = rule
            self.kind = kind
            self.repository = repository
            self.reference = reference
            self.digest = digest
        }
    }

    package let id: Int64
    package let rule: String
    package let kind: Kind
    package let repository: String
    package let reference: String
    package let digest: String?
    package let state: State
    package let attempts: Int
    /// Seconds since 1970: when the change was committed on the source (lag is measured from here).
    package let sourceTime: Double
    package let createdAt: Double
    package let updatedAt: Double
    /// The remote's error code and message of the last failed attempt.
    package let error: String?
    package let bytes: Int64
    /// Where a blob copy stands, so that the next attempt resumes it.
    package let resume: BlobCopyProgress?
}

/// An upload on the target that a blob copy had under way.
package struct BlobCopyProgress: Sendable, Equatable, Codable {
    package var digest: String
    /// The upload's URL (a remote) or session id (this instance).
    package var location: String

    package init(digest: String, location: String) {
        self.digest = digest
        self.location = location
    }
}
