import Foundation
import Synchronization

/// The tracker inside `wharf serve`: one swarm per blob, kept in memory (an agent announces again every few seconds,
/// so a restarted tracker is whole again within a peer timeout). Swarms nobody announced to lately are dropped.
package final class Tracker: Sendable {
    package let peerTimeout: Double
    private let swarms = Mutex<[String: Swarm]>([:])

    package init(peerTimeout: Double = 60) { self.peerTimeout = peerTimeout }

    package func announce(
        digest: String, pieceCount: Int, peer: String, address: String, have: Set<Int>, uploads: Int, capacity: Int,
        originBytes: Int64? = nil, peerBytes: Int64? = nil, now: Double = Date().timeIntervalSince1970
    ) {
        withSwarm(digest, pieceCount) {
            $0.announce(
                peer: peer, address: address, have: have, uploads: uploads, capacity: capacity, now: now,
                originBytes: originBytes, peerBytes: peerBytes)
        }
    }

    /// Every swarm as the console shows it, largest first.
    package func summaries(now: Double = Date().timeIntervalSince1970) -> [SwarmSummary] {
        swarms.withLock { swarms in
            swarms.map { digest, swarm in
                let live = swarm.peers.values.filter { swarm.isLive($0, now: now) }
                return SwarmSummary(
                    digest: digest, pieces: swarm.pieceCount, peers: live.count,
                    seeds: live.filter { $0.have.count == swarm.pieceCount }.count, untrusted: swarm.untrusted.count,
                    originBytes: swarm.received.values.reduce(0) { $0 + $1.origin },
                    peerBytes: swarm.received.values.reduce(0) { $0 + $1.peers })
            }.sorted { ($0.peers, $0.digest) > ($1.peers, $1.digest) }
        }
    }

    /// Up to `limit` peers for `asker`, and the pieces it should fetch from the origin itself (at most `originLimit`;
    /// the first agent to ask about a blob seeds it).
    package func plan(
        digest: String, pieceCount: Int, asker: String, lacking: Set<Int>, limit: Int, originLimit: Int,
        now: Double = Date().timeIntervalSince1970
    ) -> (peers: [Swarm.Peer], fromOrigin: [Int]) {
        withSwarm(digest, pieceCount) { swarm in
            let peers = swarm.peers(for: asker, lacking: lacking, limit: limit, now: now)
            return (peers, swarm.originPieces(for: asker, lacking: lacking, limit: originLimit, now: now))
        }
    }

    /// The swarm of `digest`, made (or made anew, for a list of another length) when needed.
    private func withSwarm<T>(_ digest: String, _ pieceCount: Int, _ body: (inout Swarm) -> T) -> T {
        swarms.withLock { swarms in
            if swarms[digest]?.pieceCount != pieceCount {
                swarms[digest] = Swarm(pieceCount: pieceCount, peerTimeout: peerTimeout)
            }
            return body(&swarms[digest]!)
        }
    }

    /// An agent reports that `peer` served a piece of `digest` that failed its check.
    package func distrust(peer: String, digest: String) {
        swarms.withLock { _ = $0[digest]?.distrust(peer: peer) }
    }

    /// An agent could not reach `peer`: it is offered to nobody until it announces again. A false report costs a
    /// live peer at most its announcement interval (10 s); a dead one, which never announces, is gone at once instead
    /// of after the peer timeout.
    package func forget(peer: String, digest: String) {
        swarms.withLock { _ = $0[digest]?.leave(peer: peer) }
    }

    /// Drops the swarms whose every peer went silent.
    package func expire(now: Double = Date().timeIntervalSince1970) {
        swarms.withLock { swarms in swarms = swarms.filter { $0.value.hasLivePeers(now: now) } }
    }

    package var swarmCount: Int { swarms.withLock { $0.count } }
}

extension Swarm {
    /// Any peer announced lately, trusted or not (the swarm keeps who is untrusted).
    func hasLivePeers(now: Double) -> Bool { peers.values.contains { now - $0.lastSeen <= peerTimeout } }
}
