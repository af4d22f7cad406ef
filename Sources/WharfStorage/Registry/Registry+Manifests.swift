import Logging
import WharfCore

/// A manifest as served: its bytes exactly as pushed, and the media type it was pushed with.
package struct StoredManifest: Sendable {
    package let digest: Digest
    package let mediaType: String
    package let bytes: [UInt8]
}

extension Registry {
    /// Validates and stores a manifest pushed to `reference`, tagging it with the reference (when a tag) and
    /// `extraTags`. Returns its digest.
    /// `origin`: the instance a replicated copy came from; replication rules towards it do not fire.
    package func putManifest(
        _ repository: RepositoryName, reference: Reference, extraTags: [Tag] = [], contentType: String?,
        bytes: [UInt8], origin: String? = nil
    ) async throws -> (digest: Digest, manifest: Manifest) {
        guard bytes.count <= configuration.maxManifestBytes else {
            throw RegistryError.sizeInvalid(
                "manifest exceeds the limit of \(configuration.maxManifestBytes) bytes", status: 413)
        }
        var tags = extraTags
        let digest: Digest
        switch reference {
        case .digest(let expected):
            digest = Digest.of(bytes, algorithm: expected.algorithm)
            guard digest == expected else {
                throw RegistryError.digestInvalid("manifest digest does not match its content", detail: expected.description)
            }
        case .tag(let tag):
            digest = Digest.of(bytes)
            tags.insert(tag, at: 0)
        }
        let manifest = try Manifest(parsing: bytes, contentType: contentType)
        let chart = try await chartRecord(repository, manifest, digest: digest)
        try await gate.shared { [tags] in
            if try await self.blobs.size(of: digest) == nil {
                try await self.blobs.write(bytes, as: digest)
            }
            try await self.metadata.putManifest(
                repository, digest: digest, size: Int64(bytes.count), manifest: manifest, tags: tags, chart: chart,
                outbox: self.outbox(origin: origin))
        }
        manifestCache.insert(bytes, for: digest)
        return (digest, manifest)
    }

    /// A chart manifest's record, from its config blob (read before the transaction; a config that is not there
    /// fails the push inside it, as a missing blob).
    private func chartRecord(_ repository: RepositoryName, _ manifest: Manifest, digest: Digest) async throws
        -> ChartRecord?
    {
        guard let config = manifest.config, config.mediaType == ChartRecord.configMediaType,
            config.size <= ChartRecord.maxConfigBytes, let configDigest = try? Digest(config.digest),
            let bytes = try await blobs.readAll(configDigest, size: config.size)
        else { return nil }
        return ChartRecord(
            repository: repository, manifest: manifest, digest: digest, config: bytes, created: MetadataStore.now)
    }

    /// What `reference` resolves to in the repository, without reading the body (for HEAD).
    package func manifestRecord(_ repository: RepositoryName, _ reference: Reference) async throws -> ManifestRecord {
        guard let record = try await metadata.manifest(repository, reference) else {
            throw RegistryError.manifestUnknown(reference.description)
        }
        return record
    }

    package func manifest(_ repository: RepositoryName, _ reference: Reference) async throws -> StoredManifest {
        let record = try await manifestRecord(repository, reference)
        if let bytes = manifestCache[record.digest] {
            return StoredManifest(digest: record.digest, mediaType: record.mediaType, bytes: bytes)
        }
        guard let bytes = try await blobs.readAll(record.digest, size: record.size) else {
            logger.error("manifest is in the metadata but missing on disk", metadata: ["digest": "\(record.digest)"])
            throw RegistryError.manifestUnknown(reference.description)
        }
        manifestCache.insert(bytes, for: record.digest)
        return StoredManifest(digest: record.digest, mediaType: record.mediaType, bytes: bytes)
    }

    /// By digest: deletes the manifest and its tags. By tag: deletes only the tag.
    /// Deletes a manifest (by digest) or a tag; returns the digest deleted or the one the tag pointed to.
    @discardableResult
    package func deleteManifest(_ repository: RepositoryName, _ reference: Reference, origin: String? = nil)
        async throws -> String
    {
        let outbox = outbox(origin: origin)
        let deleted: String? =
            switch reference {
            case .digest(let digest):
                try await metadata.deleteManifest(repository, digest, outbox: outbox) ? digest.description : nil
            case .tag(let tag): try await metadata.deleteTag(repository, tag, outbox: outbox)
            }
        guard let deleted else { throw RegistryError.manifestUnknown(reference.description) }
        return deleted
    }
}
