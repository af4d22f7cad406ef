import Dispatch

/// Where a log keeps its records: segment files with their index in the log's directory (`SegmentStorage`), or a
/// table in PostgreSQL that every instance of a cluster writes its own chain into (`AuditTable`).
///
/// The log's writer thread alone calls `append` and `retention`, one call at a time; `page` comes from any thread.
protocol AuditStorage: AnyObject, Sendable {
    /// Chains the records after the newest one of this log, stores them and returns once they are durable; returns
    /// each record's stored line, in order. On failure none of them is stored. `whenDurable` runs as soon as they are
    /// on disk, before what follows, which can no longer fail the append.
    func append(_ records: AuditBatch, whenDurable: () -> Void) throws -> [ArraySlice<UInt8>]
    /// Runs `body` once every record appended before the call can be found by `page` (at once where appending
    /// indexes too).
    func whenIndexed(_ body: @escaping @Sendable () -> Void)
    /// Whether retention should look now, besides its periodic look (the segments after sealing one).
    var retentionDue: Bool { get }
    /// What retention removes now; nil when nothing is due.
    func retention(now: Int64) throws -> AuditRetention?
    /// One page of records matching `filter`, newest first.
    func page(_ filter: AuditFilter) async throws -> AuditPage
}

/// Records that retention removes: the record saying so is appended first (it names the hash the chain continues
/// from, so that `verify` accepts the log starting later), then `remove` runs.
struct AuditRetention {
    let record: AuditEvent
    let remove: () throws -> Void
}

extension AuditStorage {
    /// Blocks until every record appended before the call can be found by `page`.
    func waitUntilIndexed() {
        let indexed = DispatchSemaphore(value: 0)
        whenIndexed { indexed.signal() }
        indexed.wait()
    }
}
