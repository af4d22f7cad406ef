/// What happened in one request (or one event of the log itself), before the log gives it a place in the chain.
public struct AuditEvent: Sendable, Equatable {
    /// When the request arrived, in milliseconds since 1970 (UTC).
    public var timeMillis: Int64
    /// The id the response carried in `X-Request-Id`.
    public var id: String
    public var actor: String
    /// `user`, `robot`, `anonymous` or `system` (the log's own records).
    public var actorKind: String
    /// How the actor proved who they are: `none`, `basic`, `bearer` or `internal`.
    public var auth: String
    public var client: String
    public var userAgent: String
    public var method: String
    /// The request path, without its query (which is where secrets could travel).
    public var path: String
    public var action: String
    public var repository: String?
    public var tag: String?
    public var digest: String?
    public var status: Int
    /// The OCI error code of a failed request.
    public var error: String?
    public var bytesIn: Int64
    public var bytesOut: Int64
    public var durationMicros: Int64
    public var detail: String?

    public init(
        timeMillis: Int64, id: String, actor: String = "anonymous", actorKind: String = "anonymous", auth: String = "none",
        client: String, userAgent: String, method: String, path: String, action: String, repository: String? = nil,
        tag: String? = nil, digest: String? = nil, status: Int, error: String? = nil, bytesIn: Int64 = 0,
        bytesOut: Int64 = 0, durationMicros: Int64 = 0, detail: String? = nil
    ) {
        self.timeMillis = timeMillis
        self.id = id
        self.actor = actor
        self.actorKind = actorKind
        self.auth = auth
        self.client = client
        self.userAgent = userAgent
        self.method = method
        self.path = path
        self.action = action
        self.repository = repository
        self.tag = tag
        self.digest = digest
        self.status = status
        self.error = error
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.durationMicros = durationMicros
        self.detail = detail
    }

    /// A record the log writes about itself (a sealed segment, retention, a recovered tail, a gap).
    static func system(_ action: AuditAction, _ detail: String, at timeMillis: Int64 = AuditTime.nowMillis()) -> AuditEvent {
        AuditEvent(
            timeMillis: timeMillis, id: "-", actor: "wharf", actorKind: "system", auth: "internal", client: "-",
            userAgent: "-", method: "-", path: "-", action: action.rawValue, status: 0, detail: detail)
    }
}

/// The actions a record can name. Requests get the first group; the log writes the second about itself.
public enum AuditAction: String, Sendable, CaseIterable {
    case ping = "ping"
    case pullManifest = "pull-manifest"
    case pullBlob = "pull-blob"
    case pushBlob = "push-blob"
    case pushManifest = "push-manifest"
    case deleteManifest = "delete-manifest"
    case deleteTag = "delete-tag"
    case deleteBlob = "delete-blob"
    case mount = "mount"
    case uploadStatus = "upload-status"
    case cancelUpload = "cancel-upload"
    case listTags = "list-tags"
    case catalog = "catalog"
    case referrers = "referrers"
    /// A chart repository's `index.yaml`, a chart or provenance download, ChartMuseum's listings, an upload, a
    /// delete, and the search across repositories.
    case chartIndex = "chart-index"
    case pullChart = "pull-chart"
    case listCharts = "list-charts"
    case pushChart = "push-chart"
    case deleteChart = "delete-chart"
    case searchCharts = "search-charts"
    case login = "login"
    case token = "token"
    case admin = "admin"
    case other = "other"
    /// A page of the web console (its deletes and sign-ins are recorded as `delete-tag`, `delete-manifest`, `login`).
    case console = "console"
    /// A copy or delete that replication carried out (not a request: its actor is `replication`).
    case replicate = "replicate"

    case segmentSealed = "segment-sealed"
    case retention = "audit-retention"
    case recovered = "audit-recovered"
    case gap = "audit-gap"
}
