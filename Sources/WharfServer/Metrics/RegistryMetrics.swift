import Prometheus
import WharfStorage

/// The Prometheus metrics the server exposes at `/metrics`, kept in a registry of its own (no global state,
/// so that several servers in one process, as in tests, do not mix their figures).
final class RegistryMetrics: Sendable {
    let prometheus = PrometheusCollectorRegistry()
    let bytesIn: Counter
    let bytesOut: Counter
    private let blobsStored: Gauge
    private let blobBytesStored: Gauge
    private let uploadsInProgress: Gauge

    private static let latencyBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(5), .seconds(30),
    ]

    init() {
        bytesIn = prometheus.makeCounter(name: "wharf_http_received_bytes_total", help: "Request body bytes received.")
        bytesOut = prometheus.makeCounter(name: "wharf_http_sent_bytes_total", help: "Blob and manifest bytes sent.")
        blobsStored = prometheus.makeGauge(name: "wharf_blobs_stored", help: "Blobs in the content store.")
        blobBytesStored = prometheus.makeGauge(name: "wharf_blob_bytes_stored", help: "Bytes of blobs in the content store.")
        uploadsInProgress = prometheus.makeGauge(name: "wharf_uploads_in_progress", help: "Open upload sessions.")
    }

    func recordRequest(route: String, method: String, status: Int, duration: Duration) {
        prometheus.makeCounter(
            name: "wharf_http_requests_total", labels: [("route", route), ("method", method), ("status", String(status))],
            help: "HTTP requests by route, method and status."
        ).increment()
        prometheus.makeDurationHistogram(
            name: "wharf_http_request_duration_seconds", labels: [("route", route), ("method", method)],
            buckets: Self.latencyBuckets, help: "Time to the response head, by route and method."
        ).record(duration)
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
