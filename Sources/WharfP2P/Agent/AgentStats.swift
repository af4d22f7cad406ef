import Synchronization

/// What an agent counts, for its `/metrics`.
package final class AgentStats: Sendable {
    package let peerBytes = Atomic<Int64>(0)
    package let originBytes = Atomic<Int64>(0)
    package let servedToPeersBytes = Atomic<Int64>(0)
    package let servedToClientsBytes = Atomic<Int64>(0)
    package let cacheHits = Atomic<Int64>(0)
    package let cacheMisses = Atomic<Int64>(0)
    package let refused = Atomic<Int64>(0)
    package let badPieces = Atomic<Int64>(0)
    package let evictions = Atomic<Int64>(0)
    package let trackerFailures = Atomic<Int64>(0)

    package init() {}

    /// The Prometheus exposition text; `cacheBytes` is the cache's current size.
    package func render(cacheBytes: Int64) -> String {
        let counters: [(String, String, Int64)] = [
            ("wharf_agent_peer_bytes_total", "Blob bytes received from other agents.", peerBytes.load(ordering: .relaxed)),
            ("wharf_agent_origin_bytes_total", "Blob bytes received from the origin.", originBytes.load(ordering: .relaxed)),
            (
                "wharf_agent_served_peer_bytes_total", "Piece bytes served to other agents.",
                servedToPeersBytes.load(ordering: .relaxed)
            ),
            (
                "wharf_agent_served_client_bytes_total", "Blob bytes served to this node's clients.",
                servedToClientsBytes.load(ordering: .relaxed)
            ),
            ("wharf_agent_cache_hits_total", "Blob pulls answered from the cache.", cacheHits.load(ordering: .relaxed)),
            ("wharf_agent_cache_misses_total", "Blob pulls that had to fetch the blob.", cacheMisses.load(ordering: .relaxed)),
            (
                "wharf_agent_refused_requests_total", "Peer requests refused (no, bad or expired token).",
                refused.load(ordering: .relaxed)
            ),
            ("wharf_agent_bad_pieces_total", "Pieces received that failed their check.", badPieces.load(ordering: .relaxed)),
            ("wharf_agent_cache_evictions_total", "Blobs evicted from the cache.", evictions.load(ordering: .relaxed)),
            (
                "wharf_agent_tracker_failures_total", "Tracker requests that failed (the origin serves instead).",
                trackerFailures.load(ordering: .relaxed)
            ),
        ]
        var text = ""
        for (name, help, value) in counters {
            text += "# HELP \(name) \(help)\n# TYPE \(name) counter\n\(name) \(value)\n"
        }
        text += "# HELP wharf_agent_cache_bytes Bytes of blobs in the cache.\n# TYPE wharf_agent_cache_bytes gauge\n"
        text += "wharf_agent_cache_bytes \(cacheBytes)\n"
        return text
    }
}
