/// One blob's swarm, as the tracker sees it: which agents hold which pieces at which peer address and how busy they
/// are, and which pieces an agent was sent to the origin for (the origin budget: each piece once, not once per agent).
package struct Swarm: Sendable {
    package struct Peer: Sendable, Equatable {
        package let id: String
        package var address: String
        package var have: Set<Int>
        /// Uploads to other peers under way, and how many it takes at once, as it last announced.
        package var uploads: Int
        package var capacity: Int
        package var lastSeen: Double

        var spare: Int { max(capacity - uploads, 0) }
    }

    package let pieceCount: Int
    /// An agent that has not announced for this long has left.
    package let peerTimeout: Double
    /// A piece fetched from the origin by one agent and not announced within this long is given to another.
    package let seedTimeout: Double
    private(set) var peers: [String: Peer] = [:]
    /// Peers that served a piece that failed its hash: never offered for this blob again.
    private(set) var untrusted: Set<String> = []
    private var seeding: [Int: (peer: String, since: Double)] = [:]

    package init(pieceCount: Int, peerTimeout: Double = 60, seedTimeout: Double = 30) {
        self.pieceCount = pieceCount
        self.peerTimeout = peerTimeout
        self.seedTimeout = seedTimeout
    }

    /// An agent's report: the pieces it holds (out of range ones are ignored), where peers reach it, how busy it is.
    package mutating func announce(
        peer id: String, address: String, have: Set<Int>, uploads: Int, capacity: Int, now: Double
    ) {
        let have = have.filter { (0..<pieceCount).contains($0) }
        peers[id] = Peer(id: id, address: address, have: have, uploads: uploads, capacity: capacity, lastSeen: now)
        for piece in have where seeding[piece] != nil { seeding[piece] = nil }
    }

    package mutating func leave(peer id: String) {
        peers[id] = nil
        seeding = seeding.filter { $0.value.peer != id }
    }

    /// A peer served a piece that failed its check.
    package mutating func distrust(peer id: String) {
        untrusted.insert(id)
        leave(peer: id)
    }

    /// Up to `limit` peers for `asker`: those holding most of the pieces it lacks first, and among them those with
    /// spare upload capacity; never itself, a peer gone silent, or one that served a bad piece.
    package func peers(for asker: String, lacking: Set<Int>, limit: Int, now: Double) -> [Peer] {
        struct Candidate {
            let peer: Peer
            let useful: Int
        }
        let candidates = peers.values
            .filter { $0.id != asker && isLive($0, now: now) }
            .map { Candidate(peer: $0, useful: $0.have.intersection(lacking).count) }
            .filter { $0.useful > 0 }
        let ranked = candidates.sorted { a, b in
            let free = (a.peer.spare > 0, b.peer.spare > 0)
            if free.0 != free.1 { return free.0 }
            if a.useful != b.useful { return a.useful > b.useful }
            if a.peer.spare != b.peer.spare { return a.peer.spare > b.peer.spare }
            return a.peer.id < b.peer.id
        }
        return ranked.prefix(limit).map(\.peer)
    }

    /// Which of the pieces `asker` lacks it should fetch from the origin, at most `limit`: pieces no live peer holds
    /// and no other agent is already fetching. Agents that start together each get a different part, so the origin
    /// serves each piece about once.
    package mutating func originPieces(for asker: String, lacking: Set<Int>, limit: Int, now: Double) -> [Int] {
        // An agent that asks is there, though it has nothing to announce yet: its seeding is not given away.
        if peers[asker] == nil {
            peers[asker] = Peer(id: asker, address: "", have: [], uploads: 0, capacity: 0, lastSeen: now)
        }
        let live = peers.values.filter { isLive($0, now: now) }
        let held = live.reduce(into: Set<Int>()) { $0.formUnion($1.have) }
        var chosen = seeding.filter { $0.value.peer == asker }.map(\.key).filter(lacking.contains)
        // Start where this agent's id points, so that agents asking together spread over the blob.
        let start = pieceCount == 0 ? 0 : Int(UInt(bitPattern: Self.stableHash(asker)) % UInt(pieceCount))
        for offset in 0..<pieceCount where chosen.count < limit {
            let piece = (start + offset) % pieceCount
            guard lacking.contains(piece), !held.contains(piece), !chosen.contains(piece) else { continue }
            if let seed = seeding[piece], seed.peer != asker, now - seed.since < seedTimeout,
                live.contains(where: { $0.id == seed.peer })
            {
                continue
            }
            seeding[piece] = (asker, now)
            chosen.append(piece)
        }
        return Array(chosen.prefix(limit))
    }

    /// Announced within the peer timeout, and never caught serving a bad piece.
    func isLive(_ peer: Peer, now: Double) -> Bool { now - peer.lastSeen <= peerTimeout && !untrusted.contains(peer.id) }

    /// FNV-1a: the same for an id in every process (Swift's `hashValue` is seeded per process).
    static func stableHash(_ text: String) -> Int {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return Int(truncatingIfNeeded: hash)
    }
}
