import WharfStorage

/// A page of repositories, as `GET /api/v1/repositories` answers and the console lists them.
package struct RepositoryList: Sendable, Codable, Equatable {
    package let repositories: [RepositorySummary]
    /// The name to continue after; nil on the last page.
    package let next: String?
}

/// A tag as `GET /api/v1/tags` answers and a repository's page lists it.
package struct TagDetails: Sendable, Codable, Equatable {
    package let tag: String
    package let digest: String
    package let mediaType: String
    package let kind: ManifestKind
    /// The manifest and every distinct blob it (and, for an index, each image in it) references.
    package let size: Int64
    /// `os/architecture[/variant]` of each manifest an index lists; empty for anything else.
    package let platforms: [String]
    /// When the tag was last pointed at its manifest, in seconds since 1970.
    package let pushed: Double
}

package struct TagList: Sendable, Codable, Equatable {
    package let repository: String
    package let tags: [TagDetails]
    package let next: String?
}

/// A manifest, as `GET /api/v1/manifests` answers and its page shows it.
package struct ManifestDetails: Sendable, Codable, Equatable {
    package struct Blob: Sendable, Codable, Equatable {
        package let digest: String
        package let mediaType: String
        package let size: Int64
    }

    /// One manifest an index lists, with its platform.
    package struct Child: Sendable, Codable, Equatable {
        package let digest: String
        package let mediaType: String
        package let size: Int64
        package let platform: String?
    }

    /// The referrers of one artifact type (signatures, SBOMs, attestations).
    package struct ReferrerGroup: Sendable, Codable, Equatable {
        package let artifactType: String
        package let manifests: [Blob]
    }

    package struct Annotation: Sendable, Codable, Equatable {
        package let key: String
        package let value: String
    }

    package let repository: String
    package let digest: String
    package let mediaType: String
    package let kind: ManifestKind
    package let artifactType: String?
    /// The manifest itself, and with everything it references.
    package let size: Int64
    package let totalSize: Int64
    package let created: Double
    package let tags: [String]
    package let config: Blob?
    package let layers: [Blob]
    package let manifests: [Child]
    package let subject: String?
    package let annotations: [Annotation]
    package let referrers: [ReferrerGroup]
    /// The indexes of the repository that list this manifest.
    package let parents: [String]
}
