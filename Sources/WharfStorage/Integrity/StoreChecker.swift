import Foundation
import Logging
import WharfCore

/// What `wharf fsck` found.
package struct StoreCheckReport: Sendable {
    /// Blob files present.
    package var files = 0
    /// Blob files re-hashed.
    package var hashed = 0
    /// Files whose bytes do not hash to their name, or (encrypted) do not authenticate.
    package var corrupt: [Digest] = []
    /// Blob files stored in plain text while encryption is on (`wharf keys encrypt-existing` encrypts them).
    package var unencrypted = 0
    /// Files under `blobs/` that no metadata row names (left by a crash between rename and commit, or junk).
    package var orphanFiles: [String] = []
    /// Metadata rows whose blob file is missing.
    package var danglingRows: [Digest] = []
    /// What `--repair` did: corrupt files moved to `quarantine/`, rows of missing blobs removed.
    package var repaired: [String] = []

    package var isClean: Bool { corrupt.isEmpty && orphanFiles.isEmpty && danglingRows.isEmpty }
}

/// Walks the blob files and the metadata and checks that each agrees with the other.
package struct StoreChecker: Sendable {
    let registry: Registry

    package init(registry: Registry) { self.registry = registry }

    /// Re-hashes every blob, or a random `sample` of them; with `repair`, quarantines corrupt blobs and removes
    /// rows that name missing files. Orphan files are only reported: a push may be between its rename and its
    /// metadata commit. `progress` is called every 100 blobs with (done, total).
    package func check(sample: Int? = nil, repair: Bool, progress: @Sendable (Int, Int) -> Void = { _, _ in })
        async throws -> StoreCheckReport
    {
        var report = StoreCheckReport()
        let (files, junk) = try await blobFiles()
        report.files = files.count + junk.count
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
            if registry.blobs.encryption != nil, FileSystem.size(files[digest]!) == size { report.unencrypted += 1 }
            report.hashed += 1
            if index % 100 == 99 { progress(index + 1, toHash.count) }
        }
        report.orphanFiles = (digests.filter { rows[$0.description] == nil }.map { files[$0]! } + junk).sorted()
        report.danglingRows = rows.keys.compactMap { try? Digest($0) }.filter { files[$0] == nil }.sorted()
        guard repair else { return report }

        let quarantine = registry.blobs.root + "/quarantine"
        try FileSystem.makeDirectory(quarantine)
        for digest in report.corrupt {
            let target = "\(quarantine)/\(digest.algorithm.rawValue)-\(digest.hex)"
            try FileSystem.durableRename(files[digest]!, target)
            try await registry.metadata.deleteBlobRows(digest)
            report.repaired.append("quarantined \(digest) as \(target)")
        }
        for digest in report.danglingRows {
            try await registry.metadata.deleteBlobRows(digest)
            report.repaired.append("removed the rows of missing blob \(digest)")
        }
        return report
    }

    /// Files under `blobs/`: those named by a digest, and the rest.
    private func blobFiles() async throws -> (files: [Digest: String], junk: [String]) {
        let root = registry.blobs.root + "/blobs"
        return try await blockingIO {
            var files = [Digest: String]()
            var junk = [String]()
            for algorithm in FileSystem.list(root) {
                for prefix in FileSystem.list("\(root)/\(algorithm)") {
                    for name in FileSystem.list("\(root)/\(algorithm)/\(prefix)") {
                        let path = "\(root)/\(algorithm)/\(prefix)/\(name)"
                        if name.hasPrefix(prefix), let digest = try? Digest("\(algorithm):\(name)") {
                            files[digest] = path
                        } else {
                            junk.append(path)
                        }
                    }
                }
            }
            return (files, junk)
        }
    }
}
