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
        // A session is its file and, when encrypted, a `.tail` beside it: the newest of them dates the session.
        let stale = try await blockingIO { () -> [String] in
            var newest = [String: Double]()
            for name in FileSystem.list(directory) {
                var info = stat()
                guard stat(directory + "/" + name, &info) == 0 else { continue }
                let id = String(name.prefix(while: { $0 != "." }))
                newest[id] = max(newest[id] ?? 0, Double(info.st_mtim.tv_sec))
            }
            return newest.filter { $0.value < cutoff }.map(\.key)
        }
        var removed = 0
        for id in stale where uploads.take(id) != nil {
            blobs.removeUpload(id)
            FileSystem.remove(blobs.uploadPath(id) + ".tail.new")
            try await metadata.deleteUpload(id: id)
            uploads.remove(id)
            removed += 1
        }
        if removed > 0 { logger.info("purged stale upload sessions", metadata: ["count": "\(removed)"]) }
        return removed
    }
}
