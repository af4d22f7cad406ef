import Testing

@testable import WharfP2P

/// The tracker's choices for one blob: peers that hold what the asker lacks, spare capacity first; the origin asked
/// for each piece about once however many agents start together; bad and silent peers left out.
@Suite struct SwarmTests {
    @Test func peersWithWhatTheAskerLacksAndSpareCapacityComeFirst() {
        var swarm = Swarm(pieceCount: 8)
        swarm.announce(peer: "full-busy", address: "a:1", have: Set(0..<8), uploads: 4, capacity: 4, now: 0)
        swarm.announce(peer: "half", address: "b:1", have: Set(0..<4), uploads: 0, capacity: 4, now: 0)
        swarm.announce(peer: "most", address: "c:1", have: Set(0..<6), uploads: 1, capacity: 4, now: 0)
        swarm.announce(peer: "useless", address: "d:1", have: [7], uploads: 0, capacity: 4, now: 0)
        let lacking = Set(0..<6)
        let offered = swarm.peers(for: "me", lacking: lacking, limit: 3, now: 1).map(\.id)
        #expect(Set(offered.prefix(2)) == ["most", "half"] && offered.last == "full-busy")
        #expect(swarm.peers(for: "me", lacking: lacking, limit: 2, now: 1).map(\.id).contains("full-busy") == false)
        #expect(swarm.peers(for: "most", lacking: lacking, limit: 5, now: 1).map(\.id) == ["half", "full-busy"])
        // Silent past the timeout, or caught serving a bad piece: not offered.
        #expect(swarm.peers(for: "me", lacking: lacking, limit: 5, now: 61).isEmpty)
        swarm.distrust(peer: "most")
        swarm.announce(peer: "most", address: "c:1", have: Set(0..<6), uploads: 0, capacity: 4, now: 2)
        #expect(!swarm.peers(for: "me", lacking: lacking, limit: 5, now: 2).map(\.id).contains("most"))
    }

    @Test func askersAtOnceAreSpreadOverEqualPeers() {
        var swarm = Swarm(pieceCount: 4)
        for seed in 0..<16 {
            swarm.announce(peer: "full-\(seed)", address: "f\(seed):1", have: Set(0..<4), uploads: 0, capacity: 4, now: 0)
            swarm.announce(peer: "part-\(seed)", address: "p\(seed):1", have: [seed % 4], uploads: 0, capacity: 4, now: 0)
        }
        // Each asker gets its own order of the peers with spare capacity, however much each holds, so a crowd does not
        // land on the few that hold the most.
        let firstChoices = (0..<64).compactMap {
            swarm.peers(for: "agent-\($0)", lacking: Set(0..<4), limit: 4, now: 1).first?.id
        }
        #expect(Set(firstChoices).count >= 16)
        #expect(firstChoices.contains { $0.hasPrefix("part-") })
        // One asker asking again gets the same order.
        #expect(
            swarm.peers(for: "agent-1", lacking: [0], limit: 8, now: 1).map(\.id)
                == swarm.peers(for: "agent-1", lacking: [0], limit: 8, now: 2).map(\.id))
    }

    @Test func aPeerReportedUnreachableIsOfferedAgainOnlyOnceItAnnounces() {
        let tracker = Tracker()
        let digest = "sha256:" + String(repeating: "a", count: 64)
        tracker.announce(
            digest: digest, pieceCount: 2, peer: "gone", address: "g:1", have: [0, 1], uploads: 0, capacity: 4, now: 0)
        #expect(
            tracker.plan(digest: digest, pieceCount: 2, asker: "new", lacking: [0, 1], limit: 4, originLimit: 2, now: 1)
                .fromOrigin.isEmpty, "held pieces are not granted from the origin")
        tracker.forget(peer: "gone", digest: digest)
        let plan = tracker.plan(digest: digest, pieceCount: 2, asker: "new", lacking: [0, 1], limit: 4, originLimit: 2, now: 2)
        #expect(plan.peers.isEmpty)
        #expect(plan.fromOrigin.sorted() == [0, 1], "its pieces go to the origin budget again")
        tracker.announce(
            digest: digest, pieceCount: 2, peer: "gone", address: "g:1", have: [0, 1], uploads: 0, capacity: 4, now: 3)
        #expect(
            tracker.plan(digest: digest, pieceCount: 2, asker: "other", lacking: [0, 1], limit: 4, originLimit: 2, now: 4)
                .peers.map(\.id) == ["gone"], "a false report costs a live peer only until it announces")
    }

    @Test func agentsStartingTogetherFetchEachPieceFromTheOriginOnce() {
        let pieces = 64
        var swarm = Swarm(pieceCount: pieces)
        let agents = (0..<8).map { "agent-\($0)" }
        for agent in agents { swarm.announce(peer: agent, address: "\(agent):1", have: [], uploads: 0, capacity: 4, now: 0) }
        var fromOrigin = [Int: [String]]()
        var have = [String: Set<Int>]()
        // Each asks for a few pieces at a time, fetches them and announces them, until none is left to assign.
        for round in 1...pieces {
            for agent in agents {
                let lacking = Set(0..<pieces).subtracting(have[agent, default: []])
                for piece in swarm.originPieces(for: agent, lacking: lacking, limit: 2, now: Double(round)) {
                    fromOrigin[piece, default: []].append(agent)
                    have[agent, default: []].insert(piece)
                }
                swarm.announce(
                    peer: agent, address: "\(agent):1", have: have[agent, default: []], uploads: 0, capacity: 4,
                    now: Double(round))
            }
        }
        #expect(fromOrigin.count == pieces, "every piece is fetched by someone")
        #expect(fromOrigin.values.allSatisfy { $0.count == 1 }, "a piece was sent to the origin twice")
        #expect(Set(fromOrigin.values.map { $0[0] }).count == agents.count, "the seeding was not spread")
    }

    @Test func aPieceSomeoneHoldsComesFromPeersAndAStalledSeedIsReplaced() {
        var swarm = Swarm(pieceCount: 4, seedTimeout: 30)
        swarm.announce(peer: "holder", address: "h:1", have: [0, 1], uploads: 0, capacity: 4, now: 0)
        swarm.announce(peer: "slow", address: "s:1", have: [], uploads: 0, capacity: 4, now: 0)
        swarm.announce(peer: "me", address: "m:1", have: [], uploads: 0, capacity: 4, now: 0)
        let slow = swarm.originPieces(for: "slow", lacking: Set(0..<4), limit: 4, now: 1)
        #expect(Set(slow) == [2, 3], "pieces a peer holds went to the origin")
        #expect(swarm.originPieces(for: "me", lacking: Set(0..<4), limit: 4, now: 2).isEmpty)
        // The seed went silent: after the timeout its pieces are given to another agent.
        swarm.announce(peer: "holder", address: "h:1", have: [0, 1], uploads: 0, capacity: 4, now: 61)
        swarm.announce(peer: "me", address: "m:1", have: [], uploads: 0, capacity: 4, now: 61)
        #expect(Set(swarm.originPieces(for: "me", lacking: Set(0..<4), limit: 4, now: 62)) == [2, 3])
        // Announced pieces are no longer the origin's.
        swarm.announce(peer: "me", address: "m:1", have: [2, 3], uploads: 0, capacity: 4, now: 63)
        swarm.announce(peer: "new", address: "n:1", have: [], uploads: 0, capacity: 4, now: 63)
        #expect(swarm.originPieces(for: "new", lacking: Set(0..<4), limit: 4, now: 63).isEmpty)
    }
}

/// The tracker over many blobs: a blob nobody announced is the asker's to seed; silent swarms go.
@Suite struct TrackerTests {
    @Test func firstAskerSeedsAndSilentSwarmsExpire() {
        let tracker = Tracker(peerTimeout: 60)
        let all = Set(0..<4)
        let first = tracker.plan(digest: "d", pieceCount: 4, asker: "a", lacking: all, limit: 4, originLimit: 2, now: 0)
        #expect(first.peers.isEmpty && first.fromOrigin.count == 2)
        let other = tracker.plan(digest: "d", pieceCount: 4, asker: "z", lacking: all, limit: 4, originLimit: 4, now: 0)
        #expect(Set(other.fromOrigin).isDisjoint(with: first.fromOrigin), "two first askers seed the same pieces")
        #expect(Set(other.fromOrigin).union(first.fromOrigin) == all)
        for (peer, pieces) in [("a", first.fromOrigin), ("z", other.fromOrigin)] {
            tracker.announce(
                digest: "d", pieceCount: 4, peer: peer, address: "\(peer):1", have: Set(pieces), uploads: 0, capacity: 4,
                now: 1)
        }
        let second = tracker.plan(digest: "d", pieceCount: 4, asker: "b", lacking: all, limit: 4, originLimit: 4, now: 2)
        #expect(Set(second.peers.map(\.id)) == ["a", "z"] && second.fromOrigin.isEmpty)
        tracker.distrust(peer: "a", digest: "d")
        let fromA = Set(first.fromOrigin)
        #expect(
            tracker.plan(digest: "d", pieceCount: 4, asker: "b", lacking: fromA, limit: 4, originLimit: 0, now: 3).peers.isEmpty)
        tracker.announce(digest: "e", pieceCount: 1, peer: "c", address: "c:1", have: [0], uploads: 0, capacity: 4, now: 3)
        tracker.expire(now: 100)
        #expect(tracker.swarmCount == 0)
    }
}
