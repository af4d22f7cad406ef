import Dispatch
import Logging

/// The log in its directory: hash-chained segment files, appended and fsynced by the writer thread, and the query
/// index beside them (see `AuditSegments`), which `AuditIndexer` keeps up behind the writer. The single server's
/// storage.
final class SegmentStorage: AuditStorage, @unchecked Sendable {  // `writer` is the writer thread's alone
    let settings: AuditSettings
    let segments: AuditSegments
    let index: AuditIndex
    private let indexer: AuditIndexer
    private let writer: SegmentWriter
    private let logger: Logger
    private(set) var retentionDue = false
    /// What opening found and did (a torn tail cut off, records missing at the end), for the log to record.
    private(set) var recoveryEvents: [AuditEvent] = []

    /// Opens the directory: repairs a torn tail and brings the index up to date.
    init(settings: AuditSettings, logger: Logger) throws {
        self.settings = settings
        self.logger = logger
        writer = try SegmentWriter(settings: settings)
        segments = writer.segments
        if let note = writer.recoveryNote { logger.warning("audit log recovered", metadata: ["detail": "\(note)"]) }
        index = try Self.openIndex(segments, logger: logger)
        let missing = try Self.reconcile(index, with: writer, logger: logger)
        indexer = AuditIndexer(index: index, logger: logger)
        if let note = writer.recoveryNote { recoveryEvents.append(.system(.recovered, note)) }
        if let missing { recoveryEvents.append(.system(.gap, missing)) }
    }

    func append(_ records: AuditBatch, whenDurable: () -> Void) throws -> [ArraySlice<UInt8>] {
        var written: [(line: ArraySlice<UInt8>, row: AuditIndex.Row)] = []
        if writer.isDue(now: AuditTime.nowMillis()) {
            written += try writer.seal()
            retentionDue = true
        }
        written += try writer.append(records)
        whenDurable()
        indexer.submit(written.map(\.row), head: (writer.nextSeq - 1, writer.lastHash))
        return written.map(\.line)
    }

    func whenIndexed(_ body: @escaping @Sendable () -> Void) { indexer.whenIndexed(body) }

    func retention(now: Int64) throws -> AuditRetention? {
        retentionDue = false
        guard let (numbers, event) = try expiredSegments(current: writer.number, now: now) else { return nil }
        return AuditRetention(record: event) { try self.removeSegments(numbers) }
    }

    func page(_ filter: AuditFilter) async throws -> AuditPage {
        // Off the caller's thread: a query reads the index and the segments with blocking calls.
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try Self.page(filter, index: self.index, segments: self.segments) })
            }
        }
    }
}
