import Testing

@testable import WharfP2P

/// What an agent fetches next and from where: the tracker's origin grants within half the slots, then the rarest
/// piece from the least-asked holder; the origin for pieces whose every holder failed, and when forced.
@Suite struct PieceSchedulerTests {
    static func plan(_ peers: [String: [Int]], fromOrigin: [Int] = []) -> PeerPlan {
        PeerPlan(
            peers: peers.sorted { $0.key < $1.key }.map { .init(id: $0.key, address: "http://\($0.key)", have: $0.value) },
            fromOrigin: fromOrigin)
    }

    @Test func theRarestPieceComesFirstFromItsLeastAskedHolder() {
        var scheduler = PieceScheduler(pieceCount: 4, missing: Set(0..<4), slots: 4, perPeer: 2)
        scheduler.learn(Self.plan(["a": [0, 1, 2], "b": [0, 1], "c": [0, 1, 3]]), asked: 0)
        // Pieces 2 and 3 have one holder each, 0 and 1 three: the rare ones go first, lowest index on a tie.
        #expect(scheduler.next(now: 0)! == (2, .peer(id: "a", address: "http://a")))
        #expect(scheduler.next(now: 0)! == (3, .peer(id: "c", address: "http://c")))
        // Then a common piece, from the holder asked least (b has nothing in flight yet).
        #expect(scheduler.next(now: 0)! == (0, .peer(id: "b", address: "http://b")))
        #expect(scheduler.next(now: 0)!.piece == 1)
        #expect(scheduler.next(now: 0) == nil, "every slot is busy")
        scheduler.finished(2, stored: true)
        scheduler.finished(0, stored: false)
        #expect(scheduler.wanted == [0])
        #expect(!scheduler.isDone)
    }

    @Test func originGrantsTakeAtMostHalfTheSlotsWhilePeersCanServe() {
        var scheduler = PieceScheduler(pieceCount: 8, missing: Set(0..<8), slots: 4)
        scheduler.learn(Self.plan(["a": [4, 5, 6, 7]], fromOrigin: [0, 1, 2, 3]), asked: 0)
        let picks = (0..<4).compactMap { _ in scheduler.next(now: 0) }
        #expect(picks.filter { $0.source == .origin }.map(\.piece) == [0, 1])
        #expect(picks.filter { $0.source != .origin }.count == 2)
    }

    @Test func piecesWhoseHoldersAllFailedComeFromTheOriginOnceTheTrackerHeard() {
        var scheduler = PieceScheduler(pieceCount: 2, missing: [0, 1], slots: 2)
        scheduler.learn(Self.plan(["gone": [0, 1]]), asked: 0)
        scheduler.avoid("gone", until: 10, failedAt: 1)
        // Until the next plan the tracker has not heard: it may drop the peer and grant its pieces to the origin
        // budget, spread over the swarm.
        #expect(scheduler.next(now: 2) == nil)
        // It still offers the peer after the report: it counts the pieces as held and grants them to nobody, so this
        // agent takes them from the origin.
        scheduler.learn(Self.plan(["gone": [0, 1]]), asked: 3)
        #expect(scheduler.next(now: 5)! == (0, .origin))
        #expect(scheduler.next(now: 5) == nil, "at most half the slots go to the origin")
        // Once the avoidance is over, the peer is asked again.
        #expect(scheduler.next(now: 11)! == (1, .peer(id: "gone", address: "http://gone")))
    }

    @Test func aPieceNobodyHoldsWaitsUnlessForced() {
        var scheduler = PieceScheduler(pieceCount: 3, missing: [0, 1, 2], slots: 2)
        scheduler.learn(Self.plan(["a": [2]]), asked: 0)
        #expect(scheduler.next(now: 0)! == (2, .peer(id: "a", address: "http://a")))
        #expect(scheduler.next(now: 0) == nil, "pieces 0 and 1 are being seeded by other agents")
        #expect(scheduler.next(now: 0, originFor: 0)! == (0, .origin))
    }

    @Test func afterAStallOnlyAPieceNoPeerHoldsIsForcedToTheOrigin() {
        var scheduler = PieceScheduler(pieceCount: 3, missing: [0, 1, 2], slots: 2)
        // Busy holders (503) are waited for: their pieces are not what a stall sends to the origin.
        scheduler.learn(Self.plan(["busy": [0, 2]]), asked: 0)
        scheduler.avoid("busy", until: 10)
        #expect(scheduler.unheld == 1)
        #expect(scheduler.next(now: 5, originFor: scheduler.unheld)! == (1, .origin))
        #expect(scheduler.unheld == nil, "0 and 2 are held; 1 is under way")
        #expect(scheduler.next(now: 5, originFor: scheduler.unheld) == nil)
    }
}
