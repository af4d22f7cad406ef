import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import WharfAuth
import WharfCore
import WharfHelm
import WharfStorage

/// A namespace's classic chart repository: `index.yaml` made from the chart versions recorded at push (of the charts
/// the caller may pull), with an ETag so that an unchanged repository costs `helm repo update` a 304, and the charts
/// themselves, the same bytes as `helm pull oci://` gets.
struct HelmAPI: Sendable {
    let api: DistributionAPI

    func respond(to request: Request, route: HelmRoute, caller: Caller) async throws -> Response {
        guard request.method == .get || request.method == .head else { throw MethodNotAllowed(allowed: [.get, .head]) }
        let includeBody = request.method == .get
        let charts = try await api.registry.metadata.charts(in: route.namespace).filter {
            caller.may(.pull, in: $0.repository)
        }
        switch route {
        case .index:
            // A config helm would not have written (no apiVersion, say) leaves its chart out rather than the index.
            let versions = charts.compactMap { chart in
                (try? JSONDecoder().decode(ChartMetadata.self, from: Data(chart.metadata))).map { metadata in
                    ChartIndex.Version(
                        metadata: metadata,
                        digest: String(chart.chartDigest.dropFirst("sha256:".count)),
                        created: Date(timeIntervalSince1970: chart.created))
                }
            }
            // `generated` is the newest push: the same index for the same charts, so the ETag holds until one changes.
            let newest = Date(timeIntervalSince1970: charts.map(\.created).max() ?? 0)
            let body = Array(try ChartIndex.yaml(versions, generated: newest).utf8)
            let tag = "\"" + SHA256.hash(data: body).prefix(16).map { String(format: "%02x", $0) }.joined() + "\""
            var headers: HTTPFields = [.contentType: "application/x-yaml", .eTag: tag, .cacheControl: "no-cache"]
            if let match = request.headers[.ifNoneMatch],
                match.split(separator: ",").contains(where: {
                    $0.trimmingCharacters(in: .whitespaces) == tag
                })
            {
                return Response(status: .notModified, headers: headers)
            }
            headers[.contentLength] = String(body.count)
            return Response(
                status: .ok, headers: headers, body: includeBody ? .init(byteBuffer: ByteBuffer(bytes: body)) : .init())
        case .chart(let namespace, let file):
            guard let chart = charts.first(where: { $0.fileName == file }), let digest = try? Digest(chart.chartDigest)
            else { throw RegistryError.blobUnknown("no chart \(file) in \(namespace.value)") }
            var response = try await api.getBlob(
                request, try RepositoryName(chart.repository), digest, includeBody: includeBody)
            response.headers[.contentType] = "application/gzip"
            return response
        }
    }
}
