import Foundation
import Synchronization
import WharfCore
import WharfStorage

/// The agent's verified blobs on disk, bounded by a size: the least recently used go first, but never one that is
/// being read. Each blob is `<dir>/<algorithm>-<hex>` beside its signed piece list (`….pieces.json`), so the agent
/// can serve its pieces to peers again after a restart. A blob being fetched is `….partial` until its every piece
/// checked out; partial files are dropped at start.
package final class BlobCache: Sendable {
    package let directory: String
    package let limit: Int64
    private let state: Mutex<State>

    private struct State {
        var entries: [String: Entry] = [:]
        /// Bytes promised to fetches under way.
        var reserved: Int64 = 0
        var clock: Double = 0
        var used: Int64 { entries.values.reduce(0) { $0 + $1.size } }
    }

    private struct Entry {
        var size: Int64
        var lastUsed: Double
        var readers = 0
        /// False for a blob found on disk at start, until its bytes were checked once more.
        var verified = true
    }

    package init(directory: String, limit: Int64) throws {
        self.directory = directory
        self.limit = limit
        try FileSystem.makeDirectory(directory, mode: 0o700)
        var state = State()
        for name in FileSystem.list(directory) {
            let path = "\(directory)/\(name)"
            if name.hasSuffix(".partial") {
                FileSystem.remove(path)
                continue
            }
            guard !name.hasSuffix(".pieces.json"), let digest = Self.digest(fromFileName: name) else { continue }
            guard FileSystem.size(path + ".pieces.json") != nil, let size = FileSystem.size(path) else {
                FileSystem.remove(path)
                continue
            }
            state.entries[digest] = Entry(
                size: size, lastUsed: FileSystem.modificationTime(path) ?? 0, verified: false)
        }
        state.clock = state.entries.values.map(\.lastUsed).max() ?? 0
        self.state = Mutex(state)
    }

    package func path(_ digest: String) -> String { "\(directory)/\(digest.replacingOccurrences(of: ":", with: "-"))" }
    package func partialPath(_ digest: String) -> String { path(digest) + ".partial" }
    package func listPath(_ digest: String) -> String { path(digest) + ".pieces.json" }

    private static func digest(fromFileName name: String) -> String? {
        guard let dash = name.firstIndex(of: "-") else { return nil }
        let digest = name[..<dash] + ":" + name[name.index(after: dash)...]
        return (try? Digest(String(digest))).map(\.description)
    }

    package var usedBytes: Int64 { state.withLock { $0.used } }
    package var digests: [String] { state.withLock { Array($0.entries.keys) } }

    package func contains(_ digest: String) -> Bool { state.withLock { $0.entries[digest] != nil } }

    /// Marks a cached blob as read from, so it is not evicted meanwhile; false when it is not cached.
    package func beginReading(_ digest: String) -> Bool {
        state.withLock { state in
            guard state.entries[digest] != nil else { return false }
            state.clock = max(state.clock + 0.001, Date().timeIntervalSince1970)
            state.entries[digest]!.lastUsed = state.clock
            state.entries[digest]!.readers += 1
            return true
        }
    }

    /// Whether a cached blob was found at start and not checked since (see `Agent.checkCached`).
    package func isUnverified(_ digest: String) -> Bool { state.withLock { $0.entries[digest]?.verified == false } }

    package func markVerified(_ digest: String) { state.withLock { $0.entries[digest]?.verified = true } }

    package func endReading(_ digest: String) {
        state.withLock { state in state.entries[digest]?.readers -= 1 }
    }

    /// Room for a blob of `size` about to be fetched; returns the digests evicted for it.
    package func reserve(_ size: Int64) -> [String] {
        state.withLock { state in
            state.reserved += size
            return evict(&state)
        }
    }

    /// A fetch that ended without a blob gives its room back.
    package func cancelReservation(_ size: Int64) {
        state.withLock { $0.reserved -= size }
    }

    /// Moves a fetched blob (every piece checked) and its piece list into the cache.
    package func admit(_ digest: String, size: Int64, list: Data) throws -> [String] {
        try writeDurably(Array(list), to: listPath(digest), mode: 0o600)
        try FileSystem.durableRename(partialPath(digest), path(digest))
        return state.withLock { state in
            state.reserved -= size
            state.clock = max(state.clock + 0.001, Date().timeIntervalSince1970)
            state.entries[digest] = Entry(size: size, lastUsed: state.clock)
            return evict(&state)
        }
    }

    /// Drops a blob whose bytes failed their check.
    package func remove(_ digest: String) {
        state.withLock { state in state.entries[digest] = nil }
        FileSystem.remove(path(digest))
        FileSystem.remove(listPath(digest))
    }

    private func evict(_ state: inout State) -> [String] {
        var evicted: [String] = []
        var used = state.used + state.reserved
        let idle = state.entries.filter { $0.value.readers == 0 }.sorted { $0.value.lastUsed < $1.value.lastUsed }
        for (digest, entry) in idle where used > limit {
            state.entries[digest] = nil
            used -= entry.size
            FileSystem.remove(path(digest))
            FileSystem.remove(listPath(digest))
            evicted.append(digest)
        }
        return evicted
    }
}
