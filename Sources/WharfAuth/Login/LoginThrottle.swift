import Synchronization

/// Slows password guessing: after `limit` failed logins within `window` from one address, or for one user name,
/// further attempts from there or for that name are refused until the window has passed.
public final class LoginThrottle: Sendable {
    private let limit: Int
    private let window: Duration
    private let failures = Mutex([String: [ContinuousClock.Instant]]())

    public init(limit: Int = 10, window: Duration = .seconds(60)) {
        self.limit = limit
        self.window = window
    }

    /// Seconds to wait before trying again, or nil when an attempt may go ahead.
    public func retryAfter(address: String, user: String?) -> Int? {
        let now = ContinuousClock.now
        return failures.withLock { failures in
            let keys = Self.keys(address, user)
            let waits = keys.compactMap { key -> Duration? in
                let recent = (failures[key] ?? []).filter { now - $0 < window }
                failures[key] = recent.isEmpty ? nil : recent
                guard recent.count >= limit, let oldest = recent.first else { return nil }
                return window - (now - oldest)
            }
            return waits.max().map { max(1, Int($0.components.seconds) + 1) }
        }
    }

    public func recordFailure(address: String, user: String?) {
        let now = ContinuousClock.now
        failures.withLock { failures in
            if failures.count > 100_000 { failures.removeAll() }  // bounded memory under a spray of addresses
            for key in Self.keys(address, user) { failures[key, default: []].append(now) }
        }
    }

    private static func keys(_ address: String, _ user: String?) -> [String] {
        ["address " + address] + (user.map { ["user " + $0] } ?? [])
    }
}
