/// How the audit log is kept.
public struct AuditSettings: Sendable, Equatable {
    public var directory: String
    /// A segment is sealed and a new one started past this size...
    public var segmentBytes: Int64 = 64 << 20
    /// ...or once its first record is this old, so that retention by age can remove it.
    public var segmentAge: Duration = .seconds(24 * 3600)
    /// The most time a read's record waits in memory before it is written and fsynced (a write's record is
    /// durable before its response is sent).
    public var flushInterval: Duration = .milliseconds(100)
    /// Sealed segments whose last record is older than this are removed; nil keeps them.
    public var retentionAge: Duration? = .seconds(365 * 24 * 3600)
    /// Oldest sealed segments are removed while all segments together are larger than this; nil for no limit.
    public var retentionBytes: Int64? = 10 << 30
    /// Records waiting while the log cannot be written (a full disk); beyond this they are counted and dropped,
    /// and a gap record says how many once writing works again.
    public var maxPending = 100_000
    /// Append each record as a JSON line to this file too.
    public var forwardFile: String?
    /// Send each record to syslog: `udp://HOST:PORT` or `unix:///dev/log`.
    public var forwardSyslog: String?

    public init(directory: String) {
        self.directory = directory
    }
}
