import Prometheus
import Synchronization
import WharfReplication
import WharfStorage

/// The Prometheus metrics the server exposes at `/metrics`, kept in a registry of its own (no global state,
/// so that several servers in one process, as in tests, do not mix their figures).
final class RegistryMetrics: Sendable {
    let prometheus = PrometheusCollectorRegistry()
    let bytesIn: Counter
    let bytesOut: Counter
    /// The part of `bytesOut` that went to P2P agents (blob requests with `Wharf-P2P-Agent`).
    let bytesToAgents: Counter
    private let blobsStored: Gauge
    private let blobBytesStored: Gauge
    private let uploadsInProgress: Gauge
    private let gcRuns: Counter
    private let gcBlobsDeleted: Counter
    private let gcBytesFreed: Counter
    private let gcOrphansDeleted: Counter
    /// The request series by route, method and status, looked up once: the registry's own lookup builds its key
    /// from the labels on every call.
    private let requestSeries = Mutex<[RequestSeries: (count: Counter, duration: DurationHistogram)]>([:])

    private struct RequestSeries: Hashable {
        let route: String
        let method: String
        let status: Int
    }

    private static let latencyBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5), .seconds(30),
    ]

    init() {
        bytesIn = prometheus.makeCounter(name: "wharf_http_received_bytes_total", help: "Request body bytes received.")
        bytesOut = prometheus.makeCounter(name: "wharf_http_sent_bytes_total", help: "Blob and manifest bytes sent.")
        bytesToAgents = prometheus.makeCounter(
            name: "wharf_p2p_origin_bytes_to_agents_total", help: "Blob bytes sent to P2P agents (wharf agent).")
        blobsStored = prometheus.makeGauge(name: "wharf_blobs_stored", help: "Blobs in the content store.")
        blobBytesStored = prometheus.makeGauge(name: "wharf_blob_bytes_stored", help: "Bytes of blobs in the content store.")
        uploadsInProgress = prometheus.makeGauge(name: "wharf_uploads_in_progress", help: "Open upload sessions.")
        gcRuns = prometheus.makeCounter(name: "wharf_gc_runs_total", help: "Garbage collection runs (not dry runs).")
        gcBlobsDeleted = prometheus.makeCounter(name: "wharf_gc_blobs_deleted_total", help: "Blobs garbage collection deleted.")
        gcBytesFreed = prometheus.makeCounter(name: "wharf_gc_bytes_freed_total", help: "Bytes garbage collection freed.")
        gcOrphansDeleted = prometheus.makeCounter(
            name: "wharf_gc_orphan_files_deleted_total", help: "Blob files without metadata (crash leftovers) reclaimed.")
        prometheus.makeGauge(
            name: "wharf_build_info", labels: [("version", WharfVersion.current)], help: "The running build; always 1."
        ).set(1.0)
    }

    func recordRequest(route: String, method: String, status: Int, duration: Duration) {
        let key = RequestSeries(route: route, method: method, status: status)
        let series = requestSeries.withLock { known in
            if let series = known[key] { return series }
            let series = (
                count: prometheus.makeCounter(
                    name: "wharf_http_requests_total",
                    labels: [("route", route), ("method", method), ("status", String(status))],
                    help: "HTTP requests by route, method and status."),
                duration: prometheus.makeDurationHistogram(
                    name: "wharf_http_request_duration_seconds", labels: [("route", route), ("method", method)],
                    buckets: Self.latencyBuckets, help: "Time to the response head, by route and method.")
            )
            known[key] = series
            return series
        }
        series.count.increment()
        series.duration.record(duration)
    }

    func recordGarbageCollection(_ report: GarbageReport) {
        guard !report.dryRun else { return }
        gcRuns.increment()
        gcBlobsDeleted.increment(by: Int64(report.blobs))
        gcBytesFreed.increment(by: report.bytes + report.orphanBytes)
        gcOrphansDeleted.increment(by: Int64(report.orphanFiles))
    }

    func recordReplication(_ outcome: ReplicationOutcome) {
        prometheus.makeCounter(
            name: "wharf_replication_tasks_total",
            labels: [("rule", outcome.rule), ("kind", outcome.kind), ("result", outcome.error == nil ? "done" : "failed")],
            help: "Replication tasks ended, by rule, kind and result (a failed attempt that is retried counts too)."
        ).increment()
        prometheus.makeCounter(
            name: "wharf_replication_bytes_total", labels: [("rule", outcome.rule)], help: "Blob bytes replication copied."
        ).increment(by: outcome.bytes)
    }

    func recordPoolDecision(_ decision: PoolDecision) {
        prometheus.makeCounter(
            name: "wharf_replication_pool_decisions_total",
            labels: [("action", decision.action.rawValue), ("policy", decision.policy)],
            help: "Decisions that changed the replication worker pool, by action and the policy that made them."
        ).increment()
        prometheus.makeGauge(name: "wharf_replication_pool_size", help: "Replication workers in the pool.").set(
            Double(decision.to))
    }

    /// Per rule: the queue, and the lag of the last hour.
    func renderReplication(_ statuses: [RuleStatus]) {
        for status in statuses {
            let labels = [("rule", status.rule)]
            for (state, count) in [("queued", status.queued), ("running", status.running), ("failed", status.failed)] {
                prometheus.makeGauge(
                    name: "wharf_replication_queue", labels: labels + [("state", state)],
                    help: "Replication tasks by rule and state."
                ).set(Double(count))
            }
            prometheus.makeGauge(
                name: "wharf_replication_lag_p99_seconds", labels: labels,
                help: "Lag (source commit to the copy's end) of the last hour's copies, 99th percentile."
            ).set(status.lagP99 ?? 0)
            prometheus.makeGauge(
                name: "wharf_replication_workers", labels: labels, help: "Replication workers."
            ).set(Double(status.workers))
        }
    }

    /// The exposition text, with the store gauges refreshed first.
    func render(_ registry: Registry) async throws -> String {
        let stats = try await registry.blobStatistics()
        blobsStored.set(Double(stats.count))
        blobBytesStored.set(Double(stats.bytes))
        uploadsInProgress.set(Double(registry.uploadsInProgress))
        return prometheus.emitToString()
    }
}
