/// A record as read back from the log: its place in the chain and what happened.
public struct AuditRecord: Decodable, Sendable, Equatable {
    public let seq: UInt64
    public let prev: String
    /// The instance whose chain holds the record, on a cluster.
    public let instance: String?
    public let time: String
    public let id: String
    public let actor: String
    public let actorKind: String
    public let auth: String
    public let client: String
    public let userAgent: String
    public let method: String
    public let path: String
    public let action: String
    public let repository: String?
    public let tag: String?
    public let digest: String?
    public let status: Int
    public let error: String?
    public let bytesIn: Int64
    public let bytesOut: Int64
    public let durationMs: Double
    public let detail: String?
}
