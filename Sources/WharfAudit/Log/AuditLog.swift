import Dispatch
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import WharfStorage

/// The append-only, hash-chained audit log. Requests hand it events; one writer thread gives each its sequence
/// number and the hash of the record before and stores them durably: in the segments of its directory, or in
/// PostgreSQL on a cluster (`AuditStorage`).
///
/// A write's record (`recordDurably`) is on disk before the call returns. A read's record (`record`) waits in
/// memory for at most `flushInterval`, together with every other record that arrived meanwhile (group commit):
/// a crash loses at most that window of reads.
public final class AuditLog: Sendable {
    public let settings: AuditSettings
    let storage: any AuditStorage
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    private let logger: Logger

    /// A write waiting for its record to be durable, or a `flush` waiting for records to be durable and indexed.
    fileprivate struct Waiter {
        let continuation: CheckedContinuation<Void, any Error>
        let needsIndex: Bool
    }

    private struct State {
        /// Records waiting to be written.
        var pending = AuditBatch()
        var waiters: [Waiter] = []
        var dropped = 0
        var failing = false
        var stopping = false
        var closed = false
    }

    /// Opens the log in `settings.directory`, repairs a torn tail, brings the index up to date and starts the
    /// writer thread.
    public convenience init(settings: AuditSettings, logger: Logger) throws {
        let storage = try SegmentStorage(settings: settings, logger: logger)
        try self.init(settings: settings, storage: storage, logger: logger)
        for event in storage.recoveryEvents { record(event) }
    }

    /// Opens the log of one instance of a cluster, in the cluster's PostgreSQL database (see `AuditTable`).
    package convenience init(settings: AuditSettings, database: any SQLDatabase, instance: String, logger: Logger) throws {
        try self.init(
            settings: settings, storage: AuditTable(database: database, instance: instance, settings: settings), logger: logger)
    }

    init(settings: AuditSettings, storage: any AuditStorage, logger: Logger) throws {
        self.settings = settings
        self.storage = storage
        self.logger = logger
        var forwarders: [any AuditForwarder] = []
        if let path = settings.forwardFile { forwarders.append(try FileForwarder(path: path)) }
        if let target = settings.forwardSyslog { forwarders.append(try SyslogForwarder(target)) }
        let loop = WriterLoop(log: self, storage: storage, forwarders: forwarders)
        Thread.detachNewThread {
            Thread.current.name = "wharf-audit"
            loop.run()
        }
    }

    /// One page of records matching `filter`, newest first (on a cluster, of every instance).
    public func page(_ filter: AuditFilter) async throws -> AuditPage {
        try await storage.page(filter)
    }

    /// Records a read: written within `flushInterval`. The caller's thread encodes it (see `AuditBatch`).
    public func record(_ event: consuming AuditEvent) {
        let record = AuditBatch(event)
        state.withLock { state in
            guard !state.closed else { return }
            if state.pending.count < settings.maxPending { state.pending.append(contentsOf: record) } else { state.dropped += 1 }
        }
    }

    /// Records a write: returns once the record is on disk, or throws if it cannot be written. Then the record is
    /// not kept: the caller records what it answered instead.
    public func recordDurably(_ event: AuditEvent) async throws {
        let record = AuditBatch(event, durable: true)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let accepted = state.withLock { state in
                guard !state.closed else { return false }
                state.pending.append(contentsOf: record)
                state.waiters.append(Waiter(continuation: continuation, needsIndex: false))
                return true
            }
            if accepted { wake.signal() } else { continuation.resume(throwing: AuditError("the audit log is closed")) }
        }
    }

    /// Returns once every record handed in before the call is written and indexed, so that a query made next
    /// sees them. Throws when they cannot be written.
    public func flush() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let accepted = state.withLock { state in
                guard !state.closed else { return false }
                state.waiters.append(Waiter(continuation: continuation, needsIndex: true))
                return true
            }
            if accepted { wake.signal() } else { continuation.resume() }
        }
    }

    /// False while records cannot be written (a full disk); writes should be refused until it is true again.
    public var isWritable: Bool { state.withLock { !$0.failing } }

    /// Whether a write may go on: true unless records could not be written. Then it first has what waits written
    /// at once, so that a write arriving just after the storage came back (a database restarted) is not refused.
    public func canWrite() async -> Bool {
        if isWritable { return true }
        try? await flush()
        return isWritable
    }

    /// Writes what is waiting and stops the writer thread. Records arriving later are ignored.
    public func close() {
        let first = state.withLock { state in
            defer { state.stopping = true }
            return !state.stopping
        }
        guard first else { return }
        wake.signal()
        stopped.wait()
    }

    /// The writer thread's view of the shared state: take everything that waits.
    fileprivate func take() -> (records: AuditBatch, waiters: [Waiter], stopping: Bool) {
        state.withLock { state in
            var records = state.pending
            if state.dropped > 0, !state.failing {
                records = AuditBatch(
                    .system(.gap, "\(state.dropped) records were dropped while the audit log could not be written"))
                records.append(contentsOf: state.pending)
                state.dropped = 0
            }
            defer {
                state.pending = AuditBatch()
                state.waiters = []
                if state.stopping { state.closed = true }
            }
            return (records, state.waiters, state.stopping)
        }
    }

    /// Puts back the reads' records that could not be written, ahead of newer ones, within `maxPending`. (The
    /// writers' callers get the error and record their answer instead.)
    fileprivate func putBack(_ records: AuditBatch) {
        state.withLock { state in
            var reads = records.reads(limit: max(0, settings.maxPending - state.pending.count))
            state.dropped += records.entries.count(where: { !$0.durable }) - reads.count
            reads.append(contentsOf: state.pending)
            state.pending = reads
        }
    }

    fileprivate func setFailing(_ failing: Bool) -> Bool {
        state.withLock { state in
            defer { state.failing = failing }
            return state.failing != failing
        }
    }

    fileprivate var flushTimeout: DispatchTime {
        .now() + .milliseconds(Int(settings.flushInterval.milliseconds))
    }

    fileprivate func waitForWork() { _ = wake.wait(timeout: flushTimeout) }
    fileprivate func signalStopped() { stopped.signal() }
    fileprivate var log: Logger { logger }
}

extension AuditLog: Service {
    /// Keeps the log open until graceful shutdown, then writes what is waiting and stops.
    public func run() async throws {
        try? await gracefulShutdown()
        close()
    }
}

/// The writer thread: batches, appends, answers waiters, forwards and applies retention.
private struct WriterLoop: @unchecked Sendable {  // handed to the writer thread, and used only there
    let log: AuditLog
    let storage: any AuditStorage
    let forwarders: [any AuditForwarder]

    func run() {
        var lastRetention = ContinuousClock.now - .seconds(3600)
        while true {
            log.waitForWork()
            let (records, waiters, stopping) = log.take()
            do {
                // Writes are answered as soon as their records are on disk; flushes once they are indexed too.
                if !records.isEmpty {
                    try write(records) {
                        for waiter in waiters where !waiter.needsIndex { waiter.continuation.resume() }
                    }
                    if log.setFailing(false) { log.log.notice("the audit log is writable again") }
                }
                let flushes = waiters.filter(\.needsIndex).map(\.continuation)
                if !flushes.isEmpty { storage.whenIndexed { for flush in flushes { flush.resume() } } }
            } catch {
                if log.setFailing(true) { log.log.error("cannot write the audit log", metadata: ["error": "\(error)"]) }
                log.putBack(records)
                for waiter in waiters { waiter.continuation.resume(throwing: error) }
            }
            if stopping {
                storage.waitUntilIndexed()
                log.signalStopped()
                return
            }
            if storage.retentionDue || ContinuousClock.now - lastRetention > .seconds(600) {
                lastRetention = .now
                applyRetention()
            }
        }
    }

    private func write(_ records: AuditBatch, whenDurable durable: () -> Void = {}) throws {
        let lines = try storage.append(records, whenDurable: durable)
        for forwarder in forwarders {
            do {
                try forwarder.forward(lines)
            } catch {
                log.log.warning("cannot forward audit records", metadata: ["error": "\(error)"])
            }
        }
    }

    private func applyRetention() {
        do {
            guard let retention = try storage.retention(now: AuditTime.nowMillis()) else { return }
            try write(AuditBatch(retention.record))  // the record that explains the gap goes first
            try retention.remove()
        } catch {
            log.log.error("audit retention failed", metadata: ["error": "\(error)"])
        }
    }
}
