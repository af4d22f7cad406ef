import HTTPTypes

extension HTTPField.Name {
    static let dockerContentDigest = Self("Docker-Content-Digest")!
    static let dockerUploadUUID = Self("Docker-Upload-UUID")!
    static let dockerDistributionAPIVersion = Self("Docker-Distribution-API-Version")!
    static let ociSubject = Self("OCI-Subject")!
    static let link = Self("Link")!
    static let ociFiltersApplied = Self("OCI-Filters-Applied")!
    static let requestID = Self("X-Request-Id")!
    static let xForwardedFor = Self("X-Forwarded-For")!
}

extension HTTPFields {
    /// The first field's value for `name`. The subscript joins every field of that name into a new string, which
    /// costs more than the lookup; headers that occur once are read with this on the hot paths.
    func first(_ name: HTTPField.Name) -> String? {
        for field in self where field.name == name { return field.value }
        return nil
    }
}
