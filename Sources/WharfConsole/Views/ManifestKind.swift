/// What a manifest holds, as the console names it: an image, a multi-platform index, a Helm chart or another
/// artifact (a signature, an SBOM, anything oras pushes).
package enum ManifestKind: String, Sendable, Codable, Equatable {
    case image
    case index
    case chart = "helm-chart"
    case artifact

    static let indexTypes: Set<String> = [
        "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
    static let imageConfigTypes: Set<String> = [
        "application/vnd.oci.image.config.v1+json", "application/vnd.docker.container.image.v1+json",
    ]
    static let chartConfigType = "application/vnd.cncf.helm.config.v1+json"

    /// `artifactType`: the manifest's, or its config's media type (what the store records for referrers).
    package init(mediaType: String, artifactType: String?) {
        if Self.indexTypes.contains(mediaType) {
            self = .index
        } else if artifactType == Self.chartConfigType {
            self = .chart
        } else if artifactType.map(Self.imageConfigTypes.contains) ?? true {
            self = .image
        } else {
            self = .artifact
        }
    }

    package var label: String {
        switch self {
        case .image: "image"
        case .index: "multi-platform index"
        case .chart: "Helm chart"
        case .artifact: "artifact"
        }
    }

    /// The command that pulls `repository:tag` from `host` with the client made for this kind.
    package func pullCommand(host: String, repository: String, tag: String) -> String {
        switch self {
        case .image, .index: "podman pull \(host)/\(repository):\(tag)"
        case .chart: "helm pull oci://\(host)/\(repository) --version \(tag)"
        case .artifact: "oras pull \(host)/\(repository):\(tag)"
        }
    }
}
