import WharfCore

/// A path of the classic chart repository of a namespace, `/helm/<namespace>/…`: its `index.yaml`, and the charts the
/// index points at (`charts/<name>-<version>.tgz`). Its charts are those pushed to `oci://HOST/<namespace>`, each in
/// the repository `<namespace>/<name>`.
enum HelmRoute: Equatable {
    case index(RepositoryName)
    case chart(RepositoryName, file: String)

    static let prefix = "/helm/"

    var namespace: RepositoryName {
        switch self {
        case .index(let name), .chart(let name, _): name
        }
    }

    /// Nil when the path is not under `/helm/` or names nothing there; throws NAME_INVALID for a bad namespace.
    static func parse(_ path: String) throws(RegistryError) -> HelmRoute? {
        guard path.hasPrefix(prefix) else { return nil }
        let parts = path.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false)
        let n = parts.count
        if n >= 2, parts[n - 1] == "index.yaml" {
            return .index(try RepositoryName(parts[..<(n - 1)].joined(separator: "/")))
        }
        if n >= 3, parts[n - 2] == "charts", parts[n - 1].hasSuffix(".tgz") {
            return .chart(try RepositoryName(parts[..<(n - 2)].joined(separator: "/")), file: String(parts[n - 1]))
        }
        return nil
    }
}
