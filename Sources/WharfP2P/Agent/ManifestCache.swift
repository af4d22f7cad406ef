import Synchronization

/// Manifests the agent has passed through, by digest only (a tag always resolves at the origin), in memory and
/// bounded by bytes: the oldest go first.
package final class ManifestCache: Sendable {
    package struct Manifest: Sendable {
        package let bytes: [UInt8]
        package let mediaType: String

        package init(bytes: [UInt8], mediaType: String) {
            self.bytes = bytes
            self.mediaType = mediaType
        }
    }

    private let limit: Int
    private let state = Mutex<(manifests: [String: Manifest], order: [String], bytes: Int)>(([:], [], 0))

    package init(limit: Int = 32 << 20) { self.limit = limit }

    package func manifest(_ digest: String) -> Manifest? { state.withLock { $0.manifests[digest] } }

    package func keep(_ manifest: Manifest, as digest: String) {
        guard manifest.bytes.count <= limit else { return }
        state.withLock { state in
            guard state.manifests[digest] == nil else { return }
            state.manifests[digest] = manifest
            state.order.append(digest)
            state.bytes += manifest.bytes.count
            while state.bytes > limit, let oldest = state.order.first {
                state.order.removeFirst()
                state.bytes -= state.manifests.removeValue(forKey: oldest)?.bytes.count ?? 0
            }
        }
    }
}
