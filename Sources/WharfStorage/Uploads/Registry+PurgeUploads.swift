import Foundation
import Logging

#if canImport(Glibc)
    import Glibc
#endif

extension Registry {
    /// Removes upload sessions untouched for `ttl`: their files (by modification time, which every write
    /// updates) and their rows; also files left without a row by a crash. Returns how many were removed.
    @discardableResult
    package func purgeUploads(olderThan ttl: Duration) async throws -> Int {
        let directory = blobs.root + "/uploads"
        let cutoff = Date().timeIntervalSince1970 - Double(ttl.components.seconds)
        let stale = try await blockingIO { () -> [String] in
            FileSystem.list(directory).filter { name in
                var info = stat()
                guard stat(directory + "/" + name, &info) == 0 else { return false }
                return Double(info.st_mtim.tv_sec) < cutoff
            }
        }
        var removed = 0
        for name in stale where uploads.claim(name) {
            FileSystem.remove(directory + "/" + name)
            try await metadata.deleteUpload(id: name)
            uploads.remove(name)
            removed += 1
        }
        if removed > 0 { logger.info("purged stale upload sessions", metadata: ["count": "\(removed)"]) }
        return removed
    }
}
