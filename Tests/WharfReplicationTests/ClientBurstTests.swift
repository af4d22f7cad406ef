import Testing

@testable import WharfReplication

/// Replication holds off while clients push, for at most the limit from a burst's first write.
@Suite struct ClientBurstTests {
    let start = ContinuousClock.now

    func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }

    @Test func aBurstIsWaitedOutUpToTheLimitAndALongerLoadIsNotHeldBackFurther() {
        var burst = ClientBurst(limit: .milliseconds(500), quiet: .milliseconds(100))
        func look(_ writes: Int, at milliseconds: Int) -> Bool { burst.holdsOff(writes: writes, now: at(milliseconds)) }
        #expect(!look(0, at: 0), "no writes: copy at once")
        #expect(look(10, at: 10))
        #expect(look(20, at: 300))
        // Writes go on: past the limit the copies run beside them.
        #expect(!look(30, at: 520))
        #expect(!look(40, at: 600))
    }

    @Test func aQuietSpellEndsTheBurst() {
        var burst = ClientBurst(limit: .milliseconds(500), quiet: .milliseconds(100))
        func look(_ writes: Int, at milliseconds: Int) -> Bool { burst.holdsOff(writes: writes, now: at(milliseconds)) }
        #expect(look(1, at: 0))
        #expect(look(1, at: 50), "a look within the quiet spell still holds")
        #expect(!look(1, at: 150), "no write for 100 ms: the burst is over")
        // The next burst gets its own limit.
        #expect(look(2, at: 700))
        #expect(!look(3, at: 1210))
    }

    @Test func aZeroLimitNeverHoldsOff() {
        var burst = ClientBurst(limit: .zero)
        func look(_ writes: Int, at milliseconds: Int) -> Bool { burst.holdsOff(writes: writes, now: at(milliseconds)) }
        #expect(!look(1, at: 0))
    }
}
