/// One blob's swarm in numbers: who is in it, and where its agents got the bytes from.
package struct SwarmSummary: Sendable, Codable, Equatable {
    package let digest: String
    package let pieces: Int
    /// Agents that announced within the peer timeout and are trusted; `seeds` of them hold every piece.
    package let peers: Int
    package let seeds: Int
    package let untrusted: Int
    /// Bytes the swarm's agents reported fetching from the origin and from one another.
    package let originBytes: Int64
    package let peerBytes: Int64
}
