import HTTPTypes
import WharfCore

/// A path of the classic chart repository of a namespace, `/helm/<namespace>/…`: its `index.yaml`, the charts the
/// index points at (`charts/<name>-<version>.tgz`) and their provenance files (`….tgz.prov`), and ChartMuseum's
/// API (`api/charts[/<name>[/<version>]]`). Its charts are those pushed to `oci://HOST/<namespace>`, each in the
/// repository `<namespace>/<name>`.
enum HelmRoute: Equatable {
    case index(RepositoryName)
    case chart(RepositoryName, file: String)
    /// The provenance file of the chart `file` names.
    case provenance(RepositoryName, file: String)
    case charts(RepositoryName)
    case chartVersions(RepositoryName, name: String)
    case chartVersion(RepositoryName, name: String, version: String)

    static let prefix = "/helm/"

    var namespace: RepositoryName {
        switch self {
        case .index(let name), .chart(let name, _), .provenance(let name, _), .charts(let name),
            .chartVersions(let name, _), .chartVersion(let name, _, _):
            name
        }
    }

    var methods: [HTTPRequest.Method] {
        switch self {
        case .index, .chart, .provenance, .chartVersions: [.get, .head]
        case .charts: [.get, .head, .post]
        case .chartVersion: [.get, .head, .delete]
        }
    }

    /// Whether the path is ChartMuseum's API, whose errors come in its own shape (`{"error": "…"}`).
    static func isChartMuseumAPI(_ path: String) -> Bool {
        path.hasPrefix(prefix) && (path.hasSuffix("/api/charts") || path.contains("/api/charts/"))
    }

    /// Nil when the path is not under `/helm/` or names nothing there; throws NAME_INVALID for a bad namespace.
    static func parse(_ path: String) throws(RegistryError) -> HelmRoute? {
        guard path.hasPrefix(prefix) else { return nil }
        let parts = path.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false)
        let n = parts.count
        func namespace(before end: Int) throws(RegistryError) -> RepositoryName {
            try RepositoryName(parts[..<end].joined(separator: "/"))
        }
        if n >= 2, parts[n - 1] == "index.yaml" { return .index(try namespace(before: n - 1)) }
        if n >= 3, parts[n - 2] == "charts" {
            let file = parts[n - 1]
            if file.hasSuffix(".tgz") { return .chart(try namespace(before: n - 2), file: String(file)) }
            if file.hasSuffix(".tgz.prov") {
                return .provenance(try namespace(before: n - 2), file: String(file.dropLast(".prov".count)))
            }
        }
        // ChartMuseum's API: the last `api/charts` in the path, with at most a name and a version after it.
        for at in stride(from: n - 2, through: max(1, n - 4), by: -1) where parts[at] == "api" && parts[at + 1] == "charts" {
            let rest = parts[(at + 2)...].map(String.init)
            guard !rest.contains(where: \.isEmpty) else { return nil }
            let name = try namespace(before: at)
            switch rest.count {
            case 0: return .charts(name)
            case 1: return .chartVersions(name, name: rest[0])
            default: return .chartVersion(name, name: rest[0], version: rest[1])
            }
        }
        return nil
    }
}
