import Foundation
import Logging
import WharfCore

/// What a garbage collection run removed, or with `dryRun` would remove.
package struct GarbageReport: Sendable, Codable {
    package var dryRun: Bool
    package var blobs: Int
    package var bytes: Int64
    package var digests: [String]
}

extension Registry {
    /// Deletes blobs that no manifest of any repository is or references, that were stored and last linked more
    /// than `grace` ago, and that no client has used within `grace`. Runs online: commits wait for the sweep's
    /// few milliseconds, so no manifest can come to reference a blob while it is being deleted.
    package func collectGarbage(grace: Duration, dryRun: Bool) async throws -> GarbageReport {
        try await gate.sweep {
            let cutoff =
                Date().timeIntervalSince1970 - Double(grace.components.seconds)
                - Double(grace.components.attoseconds) / 1e18
            let recent = self.recentlyUsed.used(since: cutoff)
            let garbage = try await self.metadata.unreferencedBlobs(before: cutoff).filter {
                guard let digest = try? Digest($0.digest) else { return false }
                return !recent.contains(digest)
            }
            let report = GarbageReport(
                dryRun: dryRun, blobs: garbage.count, bytes: garbage.reduce(0) { $0 + $1.size }, digests: garbage.map(\.digest))
            guard !dryRun else { return report }
            for blob in garbage {
                let digest = try Digest(blob.digest)
                try await self.metadata.deleteBlobRows(digest)  // rows first: a crash leaves an orphan file, never a dangling row
                try await self.blobs.delete(digest)
            }
            if !garbage.isEmpty {
                self.logger.info("garbage collected", metadata: ["blobs": "\(report.blobs)", "bytes": "\(report.bytes)"])
            }
            return report
        }
    }
}
