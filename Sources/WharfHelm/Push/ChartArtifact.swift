import Foundation
import WharfStorage

/// What `helm push` (helm 4) writes for a chart, so that a chart uploaded the classic way is the same OCI artifact:
/// the config blob, `Chart.yaml` as Go's `encoding/json` writes helm's `Metadata`, and an image manifest naming that
/// config, the chart layer and the provenance layer when there is one, annotated from the chart.
public enum ChartArtifact {
    public static let manifestMediaType = "application/vnd.oci.image.manifest.v1+json"

    public struct Layer: Sendable {
        public let digest: String
        public let size: Int64

        public init(digest: String, size: Int64) {
            self.digest = digest
            self.size = size
        }
    }

    /// The config blob: helm's `Metadata` as Go writes it.
    public static func config(_ chart: ChartMetadata) -> [UInt8] { GoJSON.encode(.object(metadata(chart))) }

    /// helm's `Metadata` fields in its struct's order, each left out when empty (`omitempty`): the config blob, and
    /// an index entry's fields.
    static func metadata(_ chart: ChartMetadata) -> [(String, GoJSON.Value)] {
        typealias V = GoJSON.Value
        var members: [(String, V)] = []
        func add(_ key: String, _ text: String?) { if let text, !text.isEmpty { members.append((key, .string(text))) } }
        func add(_ key: String, _ list: [String]?) {
            if let list, !list.isEmpty { members.append((key, .array(list.map(V.string)))) }
        }
        add("name", chart.name)
        add("home", chart.home)
        add("sources", chart.sources)
        add("version", chart.version)
        add("description", chart.description)
        add("keywords", chart.keywords)
        if let maintainers = chart.maintainers, !maintainers.isEmpty {
            members.append(("maintainers", .array(maintainers.map(maintainer))))
        }
        add("icon", chart.icon)
        add("apiVersion", chart.apiVersion)
        add("condition", chart.condition)
        add("tags", chart.tags)
        add("appVersion", chart.appVersion)
        if chart.deprecated == true { members.append(("deprecated", .bool(true))) }
        if let annotations = chart.annotations, !annotations.isEmpty {
            members.append(("annotations", .object(annotations.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        add("kubeVersion", chart.kubeVersion)
        if let dependencies = chart.dependencies, !dependencies.isEmpty {
            members.append(("dependencies", .array(dependencies.map(dependency))))
        }
        add("type", chart.type)
        return members
    }

    /// The manifest, annotated as helm 4 annotates it (`created` is the upload's time, to the second).
    public static func manifest(
        _ chart: ChartMetadata, config: Layer, chartLayer: Layer, provenance: Layer?, created: Date
    ) -> [UInt8] {
        typealias V = GoJSON.Value
        func descriptor(_ mediaType: String, _ layer: Layer) -> V {
            .object([("mediaType", .string(mediaType)), ("digest", .string(layer.digest)), ("size", .number(layer.size))])
        }
        var layers = [(ChartRecord.contentMediaType, chartLayer)]
        if let provenance { layers.append((ChartRecord.provenanceMediaType, provenance)) }
        layers.sort { $0.1.digest < $1.1.digest }  // helm 4 orders the layers by digest
        let annotations = self.annotations(chart, created: created).sorted { $0.key < $1.key }
        return GoJSON.encode(
            .object([
                ("schemaVersion", .number(2)), ("config", descriptor(ChartRecord.configMediaType, config)),
                ("layers", .array(layers.map(descriptor))),
                ("annotations", .object(annotations.map { ($0.key, .string($0.value)) })),
            ]))
    }

    /// helm's OCI annotations: the chart's own (bar title and version), then description, title, version, url,
    /// created, the first source and the maintainers as `name (email), …`; empty values left out.
    static func annotations(_ chart: ChartMetadata, created: Date) -> [String: String] {
        var result = (chart.annotations ?? [:]).filter {
            $0.key != "org.opencontainers.image.title" && $0.key != "org.opencontainers.image.version"
        }
        func add(_ key: String, _ value: String?) {
            if let value, !value.trimmingCharacters(in: .whitespaces).isEmpty {
                result["org.opencontainers.image." + key] = value
            }
        }
        add("description", chart.description)
        add("title", chart.name)
        add("version", chart.version)
        add("url", chart.home)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        add("created", formatter.string(from: created))
        add("source", chart.sources?.first)
        if let maintainers = chart.maintainers, !maintainers.isEmpty {
            add(
                "authors",
                maintainers.map { m in m.name + (m.email.map { $0.isEmpty ? "" : " (\($0))" } ?? "") }
                    .joined(separator: ", "))
        }
        return result
    }

    private static func maintainer(_ m: ChartMetadata.Maintainer) -> GoJSON.Value {
        var members: [(String, GoJSON.Value)] = []
        for (key, value) in [("name", m.name), ("email", m.email), ("url", m.url)] {
            if let value, !value.isEmpty { members.append((key, .string(value))) }
        }
        return .object(members)
    }

    private static func dependency(_ d: ChartMetadata.Dependency) -> GoJSON.Value {
        typealias V = GoJSON.Value
        var members: [(String, V)] = [("name", .string(d.name))]
        if let version = d.version, !version.isEmpty { members.append(("version", .string(version))) }
        members.append(("repository", .string(d.repository ?? "")))  // no omitempty on helm's field
        if let condition = d.condition, !condition.isEmpty { members.append(("condition", .string(condition))) }
        if let tags = d.tags, !tags.isEmpty { members.append(("tags", .array(tags.map(V.string)))) }
        if d.enabled == true { members.append(("enabled", .bool(true))) }
        if let values = d.importValues, !values.isEmpty {
            members.append(
                (
                    "import-values",
                    .array(
                        values.map {
                            switch $0 {
                            case .exported(let name): .string(name)
                            case .mapping(let child, let parent):
                                .object([("child", .string(child)), ("parent", .string(parent))])
                            }
                        })
                ))
        }
        if let alias = d.alias, !alias.isEmpty { members.append(("alias", .string(alias))) }
        return .object(members)
    }
}
