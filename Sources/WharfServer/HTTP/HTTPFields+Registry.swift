import HTTPTypes

extension HTTPField.Name {
    static let dockerContentDigest = Self("Docker-Content-Digest")!
    /// Sent by `wharf agent` on its requests to the origin.
    static let wharfP2PAgent = Self("Wharf-P2P-Agent")!
    static let dockerUploadUUID = Self("Docker-Upload-UUID")!
    static let dockerDistributionAPIVersion = Self("Docker-Distribution-API-Version")!
    static let ociSubject = Self("OCI-Subject")!
    static let link = Self("Link")!
    static let ociFiltersApplied = Self("OCI-Filters-Applied")!
    static let requestID = Self("X-Request-Id")!
    static let xForwardedFor = Self("X-Forwarded-For")!
    /// This store's identity, which replication from here names as the origin of its copies.
    static let wharfInstance = Self("Wharf-Instance")!
    /// On a write made by replication: the instance it came from (rules towards it do not fire).
    static let replicationOrigin = Self("Wharf-Replication-Origin")!
    /// On a chart repository's answer: the chart version it is about, `<repository>:<version>` (the audit log's).
    static let wharfChart = Self("Wharf-Chart")!
}

extension HTTPFields {
    /// The first field's value for `name`. The subscript joins every field of that name into a new string, which
    /// costs more than the lookup; headers that occur once are read with this on the hot paths.
    func first(_ name: HTTPField.Name) -> String? {
        for field in self where field.name == name { return field.value }
        return nil
    }
}
