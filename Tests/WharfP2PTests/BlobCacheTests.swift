import Foundation
import Testing
import WharfStorage

@testable import WharfP2P

/// The agent's cache on disk: bounded by size, least recently used out first, never a blob being read; what a
/// restart finds is kept but marked for a check, and partial files are dropped.
@Suite struct BlobCacheTests {
    static func digest(_ n: Int) -> String { "sha256:" + String(repeating: String(n), count: 64) }

    /// A fetch as the agent makes one: room reserved, the partial file written, then admitted; what was evicted.
    static func put(_ cache: BlobCache, _ n: Int, size: Int) throws -> [String] {
        let digest = Self.digest(n)
        let evicted = cache.reserve(Int64(size))
        FileManager.default.createFile(atPath: cache.partialPath(digest), contents: Data(count: size))
        return try evicted + cache.admit(digest, size: Int64(size), list: Data("{}".utf8))
    }

    static func directory() -> String {
        let path = NSTemporaryDirectory() + "wharf-cache-\(UUID().uuidString)"
        return path
    }

    @Test func theLeastRecentlyUsedGoFirstButNotOneBeingRead() throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cache = try BlobCache(directory: directory, limit: 300)
        #expect(try Self.put(cache, 1, size: 100).isEmpty)
        #expect(try Self.put(cache, 2, size: 100).isEmpty)
        #expect(cache.beginReading(Self.digest(1)))  // 1 is now the most recent, and in use
        #expect(try Self.put(cache, 3, size: 100).isEmpty)
        #expect(try Self.put(cache, 4, size: 100) == [Self.digest(2)])
        // 1 is the oldest now but being read: 3 goes instead.
        Thread.sleep(forTimeInterval: 0.01)
        #expect(cache.beginReading(Self.digest(4)))
        cache.endReading(Self.digest(4))
        #expect(try Self.put(cache, 5, size: 100) == [Self.digest(3)])
        #expect(!FileManager.default.fileExists(atPath: cache.path(Self.digest(3))))
        cache.endReading(Self.digest(1))
        #expect(cache.reserve(100) == [Self.digest(1)], "room for a fetch about to start")
        #expect(cache.usedBytes == 200)
    }

    @Test func aRestartKeepsWholeBlobsForACheckAndDropsPartialOnes() throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let cache = try BlobCache(directory: directory, limit: 1000)
        _ = try Self.put(cache, 1, size: 10)
        #expect(!cache.isUnverified(Self.digest(1)))
        FileManager.default.createFile(atPath: cache.partialPath(Self.digest(2)), contents: Data(count: 5))
        let reopened = try BlobCache(directory: directory, limit: 1000)
        #expect(reopened.digests == [Self.digest(1)])
        #expect(reopened.isUnverified(Self.digest(1)))
        #expect(!FileManager.default.fileExists(atPath: cache.partialPath(Self.digest(2))))
        reopened.markVerified(Self.digest(1))
        #expect(!reopened.isUnverified(Self.digest(1)))
    }

    @Test func sizesReadAsOperatorsWriteThem() {
        #expect(AgentSettings.parseSize("20GiB") == 20 << 30)
        #expect(AgentSettings.parseSize("512MiB") == 512 << 20)
        #expect(AgentSettings.parseSize("1G") == 1_000_000_000)
        #expect(AgentSettings.parseSize("4096") == 4096)
        #expect(AgentSettings.parseSize("lots") == nil)
        #expect(AgentSettings.parseSize("3 parsecs") == nil)
        let settings = AgentSettings(
            origin: "https://Registry.example:5443/", peerAddress: "http://n:1", cacheDirectory: "/tmp", cacheSize: 1)
        #expect(settings.originHost == "registry.example:5443" && settings.tracker == "https://Registry.example:5443")
    }
}
