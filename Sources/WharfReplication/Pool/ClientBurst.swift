import Synchronization

/// Counts the writes clients make to this instance (the server notes each), so that replication can tell a burst of
/// pushes is under way.
package final class ClientWrites: Sendable {
    private let count = Atomic<Int>(0)

    package init() {}

    package func note() { count.add(1, ordering: .relaxed) }

    var total: Int { count.load(ordering: .relaxed) }
}

/// While clients write to this instance, replication holds off for up to `limit` from the burst's first write: a
/// burst shorter than that runs at full speed, without its own copies competing for the cores and the database's one
/// writer, and is copied right after it. A longer load is not held back further, so it delays replication by at most
/// `limit`. No write seen for `quiet` ends a burst.
struct ClientBurst {
    let limit: Duration
    let quiet: Duration
    private var seen = 0
    private var lastWrite: ContinuousClock.Instant?
    private var began: ContinuousClock.Instant?

    init(limit: Duration, quiet: Duration = .milliseconds(100)) {
        self.limit = limit
        self.quiet = quiet
    }

    /// Whether to hold off at `now`, given how many client writes there have been so far.
    mutating func holdsOff(writes: Int, now: ContinuousClock.Instant) -> Bool {
        guard limit > .zero else { return false }
        if writes != seen {
            seen = writes
            lastWrite = now
            if began == nil { began = now }
        }
        guard let lastWrite, now - lastWrite < quiet, let began else {
            began = nil
            return false
        }
        return now - began < limit
    }
}
