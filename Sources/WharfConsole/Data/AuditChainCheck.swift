import Dispatch
import Foundation
import Synchronization
import WharfAudit
import WharfStorage

/// The audit chain's verification, as the console shows it: run in the background at most once a minute, so that the
/// audit page never waits for a whole-log check; the page shows the latest result and when it was made.
package final class AuditChainCheck: Sendable {
    package struct Result: Sendable, Equatable {
        package let at: Double
        package let records: Int
        package let intact: Bool
        /// The first problems found, if any (`wharf audit verify` lists them all).
        package let problems: [String]
    }

    private let verify: @Sendable () async throws -> (records: Int, problems: [String])
    private let state = Mutex<(latest: Result?, running: Bool)>((nil, false))
    private let interval: Double

    /// Verifies the log's directory, or, on a cluster, every instance's chain in the database.
    package init(settings: AuditSettings, database: (any SQLDatabase)?, interval: Double = 60) {
        self.interval = interval
        verify = {
            guard let database else {
                // Reading every segment blocks: on a thread of its own, not one of the few that serve requests.
                let result = try await withCheckedThrowingContinuation {
                    (continuation: CheckedContinuation<AuditVerification, any Error>) in
                    DispatchQueue.global(qos: .utility).async {
                        continuation.resume(with: Swift.Result { try AuditVerifier.verify(directory: settings.directory) })
                    }
                }
                return (result.records, result.problems.map(\.description))
            }
            var total = (records: 0, problems: [String]())
            for (instance, result) in try await AuditVerifier.verify(database: database) {
                total.records += result.records
                total.problems += result.problems.map { "instance \(instance): \($0)" }
            }
            return total
        }
    }

    /// The latest result. A stale one starts a check in the background; with none yet, this waits up to `patience` for
    /// the first.
    package func latest(patience: Duration = .milliseconds(20)) async -> Result? {
        let (latest, start) = state.withLock { state -> (Result?, Bool) in
            let stale = state.latest.map { Date().timeIntervalSince1970 - $0.at >= interval } ?? true
            guard stale, !state.running else { return (state.latest, false) }
            state.running = true
            return (state.latest, true)
        }
        guard start else { return latest }
        Task { await run() }
        guard latest == nil else { return latest }
        // Polled rather than awaited: the check cannot be cancelled, and a page must not wait for a long one.
        let deadline = ContinuousClock.now + patience
        while ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(5))
            if let first = state.withLock({ $0.latest }) { return first }
        }
        return nil
    }

    private func run() async {
        let result: Result
        do {
            let verification = try await verify()
            result = Result(
                at: Date().timeIntervalSince1970, records: verification.records, intact: verification.problems.isEmpty,
                problems: Array(verification.problems.prefix(5)))
        } catch {
            result = Result(at: Date().timeIntervalSince1970, records: 0, intact: false, problems: ["\(error)"])
        }
        state.withLock { $0 = (result, false) }
    }
}
