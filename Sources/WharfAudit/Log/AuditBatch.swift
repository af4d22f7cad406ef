/// Records on their way to the writer thread, already encoded. The request that makes a record encodes it, so the
/// writer only chains, writes and indexes, and an event's strings are freed on the thread that made them: handing
/// whole events across cost more than encoding them (docs/benchmarks.md).
struct AuditBatch: Sendable {
    /// One record: where its body ends in `bytes`, and what the index needs of it.
    struct Entry: Sendable {
        var end: Int
        var time: Int64
        var status: Int
        var actor: String
        var action: String
        var repository: String?
        /// Whether a caller waits until it is on disk (a write's record).
        var durable: Bool
    }

    /// The records' bodies, one after another: each line without its chain header (`AuditLine.encodeBody`).
    private(set) var bytes: [UInt8] = []
    private(set) var entries: [Entry] = []

    init() {}

    init(_ event: AuditEvent, durable: Bool = false) {
        bytes.reserveCapacity(1024)  // a request's record is 400-600 bytes
        append(event, durable: durable)
    }

    var isEmpty: Bool { entries.isEmpty }
    var count: Int { entries.count }

    mutating func append(_ event: AuditEvent, durable: Bool) {
        AuditLine.encodeBody(event, into: &bytes)
        entries.append(
            Entry(
                end: bytes.count, time: event.timeMillis, status: event.status, actor: event.actor, action: event.action,
                repository: event.repository, durable: durable))
    }

    /// Appends `other`'s records after these.
    mutating func append(contentsOf other: AuditBatch) {
        let shift = bytes.count
        bytes.append(contentsOf: other.bytes)
        entries.append(
            contentsOf: other.entries.lazy.map { entry in
                var entry = entry
                entry.end += shift
                return entry
            })
    }

    /// The body of record `index`.
    func body(_ index: Int) -> ArraySlice<UInt8> {
        bytes[(index == 0 ? 0 : entries[index - 1].end)..<entries[index].end]
    }

    /// The first `limit` records that no caller waits for, in order.
    func reads(limit: Int) -> AuditBatch {
        var reads = AuditBatch()
        for index in entries.indices where !entries[index].durable && reads.count < limit {
            reads.bytes.append(contentsOf: body(index))
            var entry = entries[index]
            entry.end = reads.bytes.count
            reads.entries.append(entry)
        }
        return reads
    }
}
