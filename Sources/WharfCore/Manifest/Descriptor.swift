/// An OCI content descriptor: what a manifest says about content it points to.
public struct Descriptor: Codable, Sendable, Equatable {
    public var mediaType: String
    public var digest: String
    public var size: Int64
    public var artifactType: String?
    public var annotations: [String: String]?
    public var urls: [String]?

    public init(
        mediaType: String, digest: String, size: Int64, artifactType: String? = nil, annotations: [String: String]? = nil
    ) {
        self.mediaType = mediaType
        self.digest = digest
        self.size = size
        self.artifactType = artifactType
        self.annotations = annotations
    }

    /// The validated digest; a malformed one makes the whole manifest invalid.
    func validatedDigest(field: String) throws(RegistryError) -> Digest {
        guard size >= 0 else { throw .manifestInvalid("\(field): negative size") }
        do {
            return try Digest(digest)
        } catch {
            throw .manifestInvalid("\(field): invalid digest '\(digest.prefix(200))'")
        }
    }
}
