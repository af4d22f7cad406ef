import Foundation

/// A manifest body, parsed and validated: an image manifest (OCI or Docker schema 2, artifacts included)
/// or an index (OCI image index or Docker manifest list).
public struct Manifest: Sendable {
    public enum Kind: Sendable, Equatable {
        case image
        case index
    }

    public let kind: Kind
    /// The media type the manifest is stored and served with.
    public let mediaType: String
    public let config: Descriptor?
    public let layers: [Descriptor]
    public let manifests: [Descriptor]
    public let subject: Descriptor?
    public let subjectDigest: Digest?
    /// `artifactType`, or for an image manifest without one, its config media type (what referrers report).
    public let artifactType: String?
    public let annotations: [String: String]?
    /// Blobs the manifest needs in the repository: config and layers, except foreign layers.
    public let blobDigests: [Digest]
    /// Manifests an index needs in the repository.
    public let childDigests: [Digest]

    /// The fields of every manifest kind, all optional so that validation can say what is missing.
    private struct Body: Decodable {
        var schemaVersion: Int?
        var mediaType: String?
        var artifactType: String?
        var config: Descriptor?
        var layers: [Descriptor]?
        var manifests: [Descriptor]?
        var subject: Descriptor?
        var annotations: [String: String]?
    }

    /// Parses `bytes` sent with the `Content-Type` header `contentType`.
    public init(parsing bytes: [UInt8], contentType: String?) throws(RegistryError) {
        let body: Body
        do {
            body = try JSONDecoder().decode(Body.self, from: Data(bytes))
        } catch {
            throw .manifestInvalid("manifest is not valid JSON of the expected shape: \(Self.describe(error))")
        }
        guard body.schemaVersion == 2 else { throw .manifestInvalid("schemaVersion must be 2") }

        let headerType = contentType.map(Self.bareMediaType).flatMap { $0.isEmpty ? nil : $0 }
        if let declared = body.mediaType, let headerType, declared != headerType {
            throw .manifestInvalid("mediaType '\(declared)' does not match Content-Type '\(headerType)'")
        }
        let mediaType = body.mediaType ?? headerType
        if mediaType == MediaType.dockerSchema1 || mediaType == MediaType.dockerSchema1Signed {
            throw .manifestInvalid("Docker schema 1 manifests are not supported")
        }

        let kind: Kind
        switch mediaType {
        case MediaType.ociManifest, MediaType.dockerManifest: kind = .image
        case MediaType.ociIndex, MediaType.dockerManifestList: kind = .index
        default:
            if body.manifests != nil, body.config == nil {
                kind = .index
            } else if body.config != nil {
                kind = .image
            } else {
                throw .manifestInvalid("unknown manifest media type '\(mediaType ?? "none")'")
            }
        }

        switch kind {
        case .image:
            guard let config = body.config else { throw .manifestInvalid("image manifest without config") }
            guard let layers = body.layers else { throw .manifestInvalid("image manifest without layers") }
            guard body.manifests == nil else { throw .manifestInvalid("image manifest with a manifests list") }
            var blobs = [try config.validatedDigest(field: "config")]
            for (index, layer) in layers.enumerated() {
                let digest = try layer.validatedDigest(field: "layers[\(index)]")
                if !MediaType.foreignLayers.contains(layer.mediaType) { blobs.append(digest) }
            }
            self.config = config
            self.layers = layers
            self.manifests = []
            self.blobDigests = blobs
            self.childDigests = []
            self.artifactType = body.artifactType ?? config.mediaType
        case .index:
            guard let manifests = body.manifests else { throw .manifestInvalid("index without manifests") }
            guard body.config == nil, body.layers == nil else { throw .manifestInvalid("index with config or layers") }
            var children = [Digest]()
            for (index, child) in manifests.enumerated() {
                children.append(try child.validatedDigest(field: "manifests[\(index)]"))
            }
            self.config = nil
            self.layers = []
            self.manifests = manifests
            self.blobDigests = []
            self.childDigests = children
            self.artifactType = body.artifactType
        }
        self.kind = kind
        self.mediaType = mediaType ?? (kind == .image ? MediaType.ociManifest : MediaType.ociIndex)
        self.subject = body.subject
        self.subjectDigest = try body.subject?.validatedDigest(field: "subject")
        self.annotations = body.annotations
    }

    /// `application/json; charset=utf-8` → `application/json`
    static func bareMediaType(_ header: String) -> String {
        String(header.split(separator: ";", maxSplits: 1).first ?? "").trimmingSpaces.lowercased()
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
            DecodingError.keyNotFound(_, let context), DecodingError.dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        default:
            return "\(error)"
        }
    }
}
