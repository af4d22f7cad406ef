import NIOCore
import WharfCore
import WharfStorage

/// Carries out one task: copies a tag or manifest with everything it needs, in the order that keeps the target
/// consistent at every moment (blobs, then children before their index, then the manifest, then its referrers,
/// the tag last), or replicates a delete. Copies are digest-exact: manifests travel as their bytes, never re-encoded.
struct ArtifactCopier: Sendable {
    let rule: ReplicationRule
    let source: any RegistrySide
    let target: any RegistrySide
    let task: ReplicationTask
    /// Remembers the upload a blob copy has under way, so that the next attempt resumes it.
    let saveProgress: @Sendable (BlobCopyProgress?) async throws -> Void
    let meter: TransferMeter
    /// Manifests this rule found or put on the target: a run of tags on one manifest asks about it once.
    let known: KnownManifests

    /// Blob bytes per PATCH: what an interrupted copy may have to send again.
    static let chunkSize: Int64 = 16 << 20
    /// How deep referrers of referrers travel (a signature on an SBOM on an image is 2).
    static let referrerDepth = 3

    func run() async throws {
        let repository = task.repository
        let destination = rule.targetName(repository)
        switch task.kind {
        case .copy:
            do {
                try await copy(repository, destination, reference: task.reference)
            } catch let error as RemoteError where error.status == 400 || error.status == 404 {
                // Perhaps the target lost manifests this rule remembered putting there: ask it again, once.
                guard known.forget(destination) else { throw error }
                try await copy(repository, destination, reference: task.reference)
            }
        case .deleteTag:
            _ = try await target.deleteManifest(destination, task.reference)
        case .deleteManifest:
            _ = try await target.deleteManifest(destination, task.reference)
            known.forget(destination)
        }
    }

    private func copy(_ repository: String, _ destination: String, reference: String) async throws {
        guard let manifest = try await source.manifest(repository, reference) else {
            throw RemoteError(status: 404, description: "the source no longer has \(repository):\(reference)")
        }
        let isTag = (try? Digest(reference)) == nil
        // Overwriting, the tag is written whatever it holds; otherwise one pointing elsewhere is a conflict.
        let current = isTag && !rule.overwrite ? try await target.manifestDigest(destination, reference) : nil
        if let current, current != manifest.digest {
            throw ReplicationConflict(
                description: "\(destination):\(reference) on the target is \(current), not \(manifest.digest); overwrite is off")
        }
        // A tag already there means its manifest's tree is too: only referrers may be missing.
        let inSync = current == manifest.digest
        if !inSync { try await copyTree(manifest, repository, destination) }
        if rule.referrers { try await copyReferrers(of: manifest.digest, repository, destination, depth: 0) }
        if isTag, !inSync { try await target.putManifest(destination, reference, manifest) }
    }

    /// The manifest and everything it references, children first; nothing when the target has it (a manifest is
    /// only ever stored after all it references).
    private func copyTree(_ manifest: FetchedManifest, _ repository: String, _ destination: String) async throws {
        if known.contains(destination, manifest.digest) { return }
        if try await target.manifestDigest(destination, manifest.digest.description) != manifest.digest {
            let parsed = try Manifest(parsing: manifest.bytes, contentType: manifest.mediaType)
            for child in parsed.childDigests {
                guard let bytes = try await source.manifest(repository, child.description) else {
                    throw RemoteError(status: 404, description: "the source lacks \(child), a child of \(manifest.digest)")
                }
                try await copyTree(bytes, repository, destination)
            }
            for digest in parsed.blobDigests { try await copyBlob(digest, repository, destination) }
            try await target.putManifest(destination, manifest.digest.description, manifest)
        }
        known.insert(destination, manifest.digest)
    }

    /// Signatures, SBOMs and other artifacts that name `subject`, and theirs in turn (a signed SBOM), a few deep.
    private func copyReferrers(of subject: Digest, _ repository: String, _ destination: String, depth: Int) async throws {
        guard depth < Self.referrerDepth else { return }
        for descriptor in try await source.referrers(repository, of: subject) {
            guard let digest = try? Digest(descriptor.digest),
                let referrer = try await source.manifest(repository, digest.description)
            else { continue }
            try await copyTree(referrer, repository, destination)
            try await copyReferrers(of: digest, repository, destination, depth: depth + 1)
        }
    }

    /// Copies a blob the target lacks: mounted when the target has it in another repository, else uploaded in
    /// chunks, resuming an upload an earlier attempt left where the target says it stands.
    private func copyBlob(_ digest: Digest, _ repository: String, _ destination: String) async throws {
        if try await target.blobSize(destination, digest) != nil { return }
        guard let size = try await source.blobSize(repository, digest) else {
            throw RemoteError(status: 404, description: "the source lacks blob \(digest)")
        }
        var location: String
        var saved: String?
        var offset: Int64 = 0
        if let resume = task.resume, resume.digest == digest.description,
            let held = try await target.uploadOffset(destination, resume.location)
        {
            location = resume.location
            offset = held
        } else {
            guard let started = try await target.startBlobUpload(destination, digest) else { return }  // mounted
            location = started
        }
        // Some registries hand out a new location with every chunk; the newest is the one to resume from.
        func save() async throws {
            guard location != saved else { return }
            try await saveProgress(BlobCopyProgress(digest: digest.description, location: location))
            saved = location
        }
        try await save()
        while offset < size {
            let length = min(Self.chunkSize, size - offset)
            let body = try await source.readBlob(repository, digest, offset: offset, length: length)
            location = try await target.appendBlob(
                destination, location, offset: offset, length: length, body: meter.metered(body))
            offset += length
            try await save()
        }
        try await target.completeBlob(destination, location, digest)
        try await saveProgress(nil)
    }
}

/// The target's tag points elsewhere and the rule does not overwrite: reported, not retried.
struct ReplicationConflict: Error, CustomStringConvertible {
    let description: String
}
