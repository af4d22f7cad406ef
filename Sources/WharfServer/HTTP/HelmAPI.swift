import Foundation
import HTTPTypes
import Hummingbird
import WharfAuth
import WharfCore
import WharfHelm
import WharfStorage

/// A namespace's classic chart repository: `index.yaml` made from the chart versions recorded at push (of the charts
/// the caller may pull), with an ETag so that a cache revalidating an unchanged repository gets a 304; the charts and
/// their provenance files, the same bytes as `helm pull oci://` gets; and ChartMuseum's API to list, upload and
/// delete them. Across namespaces, `GET /api/v1/charts?q=` searches.
struct HelmAPI: Sendable {
    let api: DistributionAPI

    func respond(to request: Request, route: HelmRoute, caller: Caller) async throws -> Response {
        let repository = ChartRepository(registry: api.registry, namespace: route.namespace)
        let includeBody = request.method != .head
        switch route {
        case .index:
            let charts = try await repository.versions { caller.may(.pull, in: $0) }
            let etag = ChartRepository.etag(of: charts)
            var headers: HTTPFields = [.contentType: "application/x-yaml", .eTag: etag, .cacheControl: "no-cache"]
            if let match = request.headers[.ifNoneMatch],
                match.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == etag })
            {
                return Response(status: .notModified, headers: headers)
            }
            let yaml = ChartRepository.index(of: charts)
            headers[.contentLength] = String(yaml.count)
            return Response(
                status: .ok, headers: headers, body: includeBody ? .init(byteBuffer: ByteBuffer(bytes: yaml)) : .init())
        case .chart(let namespace, let file), .provenance(let namespace, let file):
            let isProvenance = if case .provenance = route { true } else { false }
            guard let chart = try await repository.version(file: file), caller.may(.pull, in: chart.repository),
                let digest = try? Digest(isProvenance ? chart.provenanceDigest ?? "" : chart.chartDigest)
            else { throw RegistryError.blobUnknown("no \(file)\(isProvenance ? ".prov" : "") in \(namespace.value)") }
            var response = try await api.getBlob(request, try RepositoryName(chart.repository), digest, includeBody: includeBody)
            response.headers[.contentType] = isProvenance ? "application/pgp-signature" : "application/gzip"
            response.headers[.wharfChart] = chart.auditName
            return response
        case .charts, .chartVersions, .chartVersion:
            return try await chartMuseum(request, route: route, repository: repository, caller: caller)
        }
    }

    /// ChartMuseum's API: `GET api/charts` (every chart, by name), `GET api/charts/NAME` (its versions),
    /// `GET|DELETE api/charts/NAME/VERSION` (`latest` for the newest), `POST api/charts` (an upload).
    private func chartMuseum(_ request: Request, route: HelmRoute, repository: ChartRepository, caller: Caller)
        async throws -> Response
    {
        let visible = { caller.may(.pull, in: $0) }
        switch route {
        case .charts where request.method == .post:
            let chart = try await upload(request, to: repository, caller: caller)
            var response = Self.json(["saved": true], status: .created)
            response.headers[.dockerContentDigest] = chart.manifestDigest
            response.headers[.wharfChart] = chart.auditName
            return response
        case .charts:
            let versions = try await repository.versions(visible: visible)
            return Self.json(ChartIndex.entries(versions.compactMap(\.indexVersion)), includeBody: request.method != .head)
        case .chartVersions(_, let name):
            let versions = try await repository.versions(visible: visible).filter { $0.name == name }
            guard let entries = ChartIndex.entries(versions.compactMap(\.indexVersion))[name] else {
                throw RegistryError(.nameUnknown, status: 404, "chart not found: \(name)")
            }
            return Self.json(entries, includeBody: request.method != .head)
        case .chartVersion(_, let name, let version):
            let chart: ChartRecord? =
                if version == "latest" {
                    try await repository.versions(visible: visible).filter { $0.name == name }
                        .max { SemanticVersion.precedes($0.version, $1.version) }
                } else {
                    try await repository.version(name, version).flatMap { visible($0.repository) ? $0 : nil }
                }
            guard let chart, let entry = chart.indexVersion.map(ChartIndex.Entry.init) else {
                throw RegistryError(.manifestUnknown, status: 404, "no chart version found for \(name)-\(version)")
            }
            var response: Response
            if request.method == .delete {
                guard caller.may(.delete, in: chart.repository) else {
                    throw RegistryError(.denied, status: 403, "no delete access to \(chart.repository)")
                }
                try await repository.delete(chart)
                response = Self.json(["deleted": true])
            } else {
                response = Self.json(entry, includeBody: request.method != .head)
            }
            response.headers[.wharfChart] = chart.auditName
            response.headers[.dockerContentDigest] = chart.manifestDigest
            return response
        default:
            throw RegistryError(.unsupported, status: 404, "no such endpoint")
        }
    }

    /// The chart as the body, or a form with the fields `chart` and (optionally) `prov`; stored only when all of it
    /// is good and the caller may push to its repository, else nothing is left.
    private func upload(_ request: Request, to repository: ChartRepository, caller: Caller) async throws -> ChartRecord {
        let upload = repository.upload()
        do {
            if let boundary = FormParts<RequestBody>.boundary(of: request.headers[.contentType]) {
                let form = FormParts(request.body, boundary: boundary)
                while let field = try await form.next() {
                    switch field {
                    case "chart": try await upload.receiveChart(form.content)
                    case "prov": try await upload.receiveProvenance(form.content)
                    default: continue  // skipped by the next `next()`
                    }
                }
            } else {
                try await upload.receiveChart(request.body)
            }
            let force = request.uri.queryParameters["force"].map { $0 != "false" && $0 != "0" } ?? false
            return try await upload.commit(force: force) { caller.may(.push, in: $0.value) }
        } catch {
            await upload.abandon()
            throw error
        }
    }

    /// `GET /api/v1/charts?q=WORD`: the charts of every namespace whose name, description or a keyword holds the
    /// word, that the caller may pull; each chart's newest version, or every version with `versions=all`.
    func search(_ request: Request, caller: Caller) async throws -> Response {
        let query = request.uri.queryParameters
        let versions = query["versions"] ?? "newest"
        guard versions == "all" || versions == "newest" else {
            throw RegistryError(.unsupported, status: 400, "versions must be all or newest, not '\(versions)'")
        }
        let found = try await ChartRepository.search(
            query["q"].map(String.init) ?? "", in: api.registry, allVersions: versions == "all"
        ) { caller.may(.pull, in: $0) }
        return Self.json(["charts": found.compactMap(SearchResult.init)], includeBody: request.method != .head)
    }

    private struct SearchResult: Encodable {
        let repository: String
        let name: String
        let version: String
        let appVersion: String?
        let description: String?
        let keywords: [String]?
        let deprecated: Bool?
        let digest: String
        /// The chart's file, under its namespace's chart repository.
        let url: String

        init?(_ chart: ChartRecord) {
            guard let metadata = chart.chartMetadata else { return nil }
            let namespace = String(chart.repository.dropLast(chart.name.count + 1))
            (repository, name, version) = (namespace, chart.name, chart.version)
            (appVersion, description, keywords, deprecated) =
                (metadata.appVersion, metadata.description, metadata.keywords, metadata.deprecated)
            digest = chart.chartDigest
            url = "\(HelmRoute.prefix)\(namespace)/charts/\(chart.fileName)"
        }
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok, includeBody: Bool = true) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(
            status: status, headers: [.contentType: "application/json", .contentLength: String(body.count)],
            body: includeBody ? .init(byteBuffer: ByteBuffer(bytes: body)) : .init())
    }
}

extension RegistryError {
    /// ChartMuseum answers its API's errors as `{"error": "…"}`, which helm plugins and CI scripts read.
    func chartMuseumResponse(includeBody: Bool) -> Response {
        HelmAPI.json(["error": message], status: HTTPResponse.Status(code: httpStatus), includeBody: includeBody)
    }
}

extension ChartRecord {
    /// `<repository>:<version>`, as the audit log names a chart version.
    var auditName: String { "\(repository):\(version)" }
}
