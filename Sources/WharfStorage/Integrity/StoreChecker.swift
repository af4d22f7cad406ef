import Foundation
import Logging
import WharfCore

/// What `wharf fsck` found.
package struct StoreCheckReport: Sendable {
    /// A file that is garbage, not damage: nothing is lost by it, and it is reclaimed in time.
    package struct Leftover: Sendable, Equatable {
        package let path: String
        /// Seconds since the file last changed.
        package let age: Double
        package let size: Int64
    }

    /// Blob files present.
    package var files = 0
    /// Blob files re-hashed.
    package var hashed = 0
    /// Files whose bytes do not hash to their name, or (encrypted) do not authenticate.
    package var corrupt: [Digest] = []
    /// Blob files stored in plain text while encryption is on (`wharf keys encrypt-existing` encrypts them).
    package var unencrypted = 0
    /// Blob files that no metadata row names: left by a crash between a commit's rename and its metadata write. Garbage
    /// collection reclaims them once older than its grace period; `--repair` too.
    package var orphanFiles: [Leftover] = []
    /// Files under `blobs/` that are not named by a digest: nothing of ours writes them.
    package var unexpectedFiles: [String] = []
    /// Metadata rows whose blob file is missing.
    package var danglingRows: [Digest] = []
    /// Files under `uploads/`: sessions in progress, and what a crash left (the upload TTL purges both in time).
    package var uploadFiles: [Leftover] = []
    /// The upload files that belong to no session.
    package var abandonedUploads: Set<String> = []
    /// What `--repair` did: corrupt files moved to `quarantine/`, rows of missing blobs removed, orphans deleted.
    package var repaired: [String] = []

    /// Damage only: orphan files and upload leftovers are garbage, not problems.
    package var isClean: Bool { corrupt.isEmpty && unexpectedFiles.isEmpty && danglingRows.isEmpty }
}

/// Walks the blob files and the metadata and checks that each agrees with the other.
package struct StoreChecker: Sendable {
    let registry: Registry

    package init(registry: Registry) { self.registry = registry }

    /// Re-hashes every blob, or a random `sample` of them; with `repair`, quarantines corrupt blobs, removes rows that
    /// name missing files, and deletes orphan files older than `grace` (a younger one may be a push between its rename
    /// and its metadata commit). `progress` is called every 100 blobs with (done, total).
    package func check(
        sample: Int? = nil, repair: Bool, grace: Duration = .seconds(3600),
        progress: @Sendable (Int, Int) -> Void = { _, _ in }
    ) async throws -> StoreCheckReport {
        var report = StoreCheckReport()
        let now = Date().timeIntervalSince1970
        let (files, unexpected) = try await registry.blobs.listBlobs()
        report.files = files.count + unexpected.count
        report.unexpectedFiles = unexpected.sorted()
        var rows = [String: Int64]()
        try await registry.metadata.forEachBlob { digest, size in rows[digest] = size }
        let digests = files.keys.sorted()
        let known = digests.filter { rows[$0.description] != nil }
        let toHash = sample.map { Array(known.shuffled().prefix($0)).sorted() } ?? known
        for (index, digest) in toHash.enumerated() {
            let size = rows[digest.description]!
            do {
                if try await registry.blobs.hash(digest, size: size) != digest { report.corrupt.append(digest) }
            } catch {
                registry.logger.error("blob does not read back", metadata: ["digest": "\(digest)", "error": "\(error)"])
                report.corrupt.append(digest)
            }
            if registry.blobs.encryption != nil, files[digest]!.size == size { report.unencrypted += 1 }
            report.hashed += 1
            if index % 100 == 99 { progress(index + 1, toHash.count) }
        }
        let orphans = digests.filter { rows[$0.description] == nil }
        report.orphanFiles = orphans.map { Self.leftover(files[$0]!, now: now) }
        report.danglingRows = rows.keys.compactMap { try? Digest($0) }.filter { files[$0] == nil }.sorted()
        try await checkUploads(&report, now: now)
        guard repair else { return report }

        for digest in report.corrupt {
            let target = try await registry.blobs.quarantine(digest)
            try await registry.metadata.deleteBlobRows(digest)
            report.repaired.append("quarantined \(digest) as \(target)")
        }
        for digest in report.danglingRows {
            try await registry.metadata.deleteBlobRows(digest)
            report.repaired.append("removed the rows of missing blob \(digest)")
        }
        let cutoff = Registry.cutoff(grace)
        for digest in orphans where files[digest]!.modified < cutoff {
            let reclaimed = try await registry.blobs.reclaim(digest) {
                try await !registry.metadata.knownBlobs(among: [digest]).isEmpty
            }
            if reclaimed {
                report.repaired.append("deleted orphan file \(files[digest]!.path)")
            }
        }
        return report
    }

    private func checkUploads(_ report: inout StoreCheckReport, now: Double) async throws {
        let sessions = try await registry.metadata.allUploadIDs()
        for (id, stored) in try await registry.sessions.storedUploads().sorted(by: { $0.object.path < $1.object.path }) {
            report.uploadFiles.append(Self.leftover(stored, now: now))
            if !sessions.contains(id) { report.abandonedUploads.insert(stored.path) }
        }
    }

    private static func leftover(_ file: StoredBlob, now: Double) -> StoreCheckReport.Leftover {
        StoreCheckReport.Leftover(path: file.path, age: now - file.modified, size: file.size)
    }
}
