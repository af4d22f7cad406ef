import Foundation
import Logging
import Synchronization
import WharfCore

/// What a garbage collection run removed, or with `dryRun` would remove.
package struct GarbageReport: Sendable, Codable {
    package var dryRun: Bool
    /// Unreferenced blobs (their rows and files).
    package var blobs: Int
    package var bytes: Int64
    package var digests: [String]
    /// Blob files that no row names, left by a crash between a commit's rename and its metadata write (or between
    /// a collection's row delete and its file delete).
    package var orphanFiles = 0
    package var orphanBytes: Int64 = 0
}

extension Registry {
    /// Deletes blobs that no manifest of any repository is or references, that were stored and last linked more
    /// than `grace` ago, and that no client has used within `grace`. Runs online: commits wait for the sweep's
    /// few milliseconds, so no manifest can come to reference a blob while it is being deleted.
    package func collectGarbage(grace: Duration, dryRun: Bool) async throws -> GarbageReport {
        let cutoff = Self.cutoff(grace)
        // Walked before the sweep, so the gate is held only for the row checks and deletes.
        let oldFiles = try await blobs.listBlobs().blobs.filter { $0.value.modified < cutoff }
        return try await gate.sweep {
            var report = try await self.collectUnreferenced(cutoff: cutoff, dryRun: dryRun)
            // Inside the sweep no commit is between its rename and its row, so a file without a row is an orphan.
            let known = try await self.metadata.knownBlobs(among: Array(oldFiles.keys))
            let collected = Set(report.digests)
            for (digest, file) in oldFiles where !known.contains(digest) && !collected.contains(digest.description) {
                report.orphanFiles += 1
                report.orphanBytes += file.size
                if !dryRun { try await self.blobs.delete(digest) }
            }
            if report.orphanFiles > 0 {
                self.logger.info(
                    dryRun ? "orphan blob files found" : "orphan blob files reclaimed",
                    metadata: ["files": "\(report.orphanFiles)", "bytes": "\(report.orphanBytes)"])
            }
            if !dryRun { self.lastCollection.withLock { $0 = (Date().timeIntervalSince1970, report) } }
            return report
        }
    }

    /// Seconds since 1970, `grace` ago.
    package static func cutoff(_ grace: Duration) -> Double {
        Date().timeIntervalSince1970 - Double(grace.components.seconds) - Double(grace.components.attoseconds) / 1e18
    }

    private func collectUnreferenced(cutoff: Double, dryRun: Bool) async throws -> GarbageReport {
        let recent = recentlyUsed.used(since: cutoff)
        let garbage = try await metadata.unreferencedBlobs(before: cutoff).filter {
            guard let digest = try? Digest($0.digest) else { return false }
            return !recent.contains(digest)
        }
        let report = GarbageReport(
            dryRun: dryRun, blobs: garbage.count, bytes: garbage.reduce(0) { $0 + $1.size }, digests: garbage.map(\.digest))
        guard !dryRun else { return report }
        for blob in garbage {
            let digest = try Digest(blob.digest)
            try await metadata.deleteBlobRows(digest)  // rows first: a crash leaves an orphan file, never a dangling row
            try await blobs.delete(digest)
        }
        if !garbage.isEmpty {
            logger.info("garbage collected", metadata: ["blobs": "\(report.blobs)", "bytes": "\(report.bytes)"])
        }
        return report
    }
}
