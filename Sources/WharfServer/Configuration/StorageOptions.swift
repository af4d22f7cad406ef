import WharfStorage

/// Where blobs and upload sessions are kept: the data directory (the default), or an S3 bucket shared by every
/// instance of a cluster:
///
///     storage:
///       driver: s3                          # or filesystem (the default)
///       s3:
///         endpoint: https://rgw.example:7480   # default https://s3.<region>.amazonaws.com
///         region: us-east-1
///         bucket: wharf
///         prefix: registry/                 # before every key; default none
///         accessKey: …                      # or WHARF_S3_ACCESS_KEY, AWS_ACCESS_KEY_ID
///         secretKey: …                      # or WHARF_S3_SECRET_KEY, AWS_SECRET_ACCESS_KEY
///         pathStyle: true                   # false: virtual-hosted (bucket.host), as AWS prefers
///         caFile: /etc/wharf/s3-ca.pem      # the certificates to trust, else the system's
///       redirect: true                      # blob GETs answer 307 to the object, signed for 5 minutes; needs
///                                           # encryption off (an encrypted object is not the blob's bytes)
public struct StorageOptions: Sendable, Equatable {
    public enum Driver: String, Sendable, Equatable { case filesystem, s3 }

    public var driver = Driver.filesystem
    public var endpoint: String?
    public var region = "us-east-1"
    public var bucket: String?
    public var prefix = ""
    public var accessKey: String?
    public var secretKey: String?
    public var pathStyle = true
    public var caFile: String?
    public var redirect = false

    public init() {}

    struct File: Decodable {
        struct S3: Decodable {
            var endpoint: String?
            var region: String?
            var bucket: String?
            var prefix: String?
            var accessKey: String?
            var secretKey: String?
            var pathStyle: Bool?
            var caFile: String?
        }
        var driver: String?
        var s3: S3?
        var redirect: Bool?
    }

    mutating func apply(_ file: File) throws {
        if let driver = file.driver { self.driver = try Self.driver(driver, "storage.driver") }
        if let redirect = file.redirect { self.redirect = redirect }
        guard let s3 = file.s3 else { return }
        if let endpoint = s3.endpoint { self.endpoint = endpoint }
        if let region = s3.region { self.region = region }
        if let bucket = s3.bucket { self.bucket = bucket }
        if let prefix = s3.prefix { self.prefix = prefix }
        if let key = s3.accessKey { accessKey = key }
        if let key = s3.secretKey { secretKey = key }
        if let pathStyle = s3.pathStyle { self.pathStyle = pathStyle }
        if let path = s3.caFile { caFile = path }
    }

    /// `WHARF_STORAGE_DRIVER`, `WHARF_S3_ENDPOINT`, `WHARF_S3_REGION`, `WHARF_S3_BUCKET`, `WHARF_S3_PREFIX`,
    /// `WHARF_S3_ACCESS_KEY` and `WHARF_S3_SECRET_KEY` (else AWS's own variables), `WHARF_S3_PATH_STYLE` (on/off) and
    /// `WHARF_S3_CA_FILE`, `WHARF_STORAGE_REDIRECT` (on/off).
    mutating func apply(environment: [String: String]) throws {
        if let driver = environment["WHARF_STORAGE_DRIVER"] { self.driver = try Self.driver(driver, "WHARF_STORAGE_DRIVER") }
        if let endpoint = environment["WHARF_S3_ENDPOINT"] { self.endpoint = endpoint }
        if let region = environment["WHARF_S3_REGION"] ?? environment["AWS_REGION"] { self.region = region }
        if let bucket = environment["WHARF_S3_BUCKET"] { self.bucket = bucket }
        if let prefix = environment["WHARF_S3_PREFIX"] { self.prefix = prefix }
        if let key = environment["WHARF_S3_ACCESS_KEY"] ?? environment["AWS_ACCESS_KEY_ID"] { accessKey = key }
        if let key = environment["WHARF_S3_SECRET_KEY"] ?? environment["AWS_SECRET_ACCESS_KEY"] { secretKey = key }
        if let pathStyle = environment["WHARF_S3_PATH_STYLE"] {
            self.pathStyle = try WharfConfiguration.onOff(pathStyle, "WHARF_S3_PATH_STYLE")
        }
        if let path = environment["WHARF_S3_CA_FILE"] { caFile = path }
        if let redirect = environment["WHARF_STORAGE_REDIRECT"] {
            self.redirect = try WharfConfiguration.onOff(redirect, "WHARF_STORAGE_REDIRECT")
        }
    }

    func validate() throws {
        guard driver == .s3 else {
            guard !redirect else { throw WharfConfiguration.Invalid(description: "storage.redirect needs storage.driver s3") }
            return
        }
        guard let bucket, !bucket.isEmpty else { throw WharfConfiguration.Invalid(description: "storage.s3.bucket is not set") }
        guard accessKey?.isEmpty == false, secretKey?.isEmpty == false else {
            throw WharfConfiguration.Invalid(
                description: "storage.s3 needs accessKey and secretKey (or WHARF_S3_ACCESS_KEY and WHARF_S3_SECRET_KEY)")
        }
        guard prefix.isEmpty || prefix.hasSuffix("/"), !prefix.hasPrefix("/") else {
            throw WharfConfiguration.Invalid(description: "storage.s3.prefix must end with / and not start with one")
        }
        if let endpoint, !(endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://")) {
            throw WharfConfiguration.Invalid(description: "storage.s3.endpoint must be an http:// or https:// URL")
        }
    }

    /// The settings of the S3 blob store; nil for the data directory.
    var objectStorage: ObjectStorageSettings? {
        guard driver == .s3, let bucket, let accessKey, let secretKey else { return nil }
        return ObjectStorageSettings(
            endpoint: S3Endpoint(
                url: endpoint ?? "https://s3.\(region).amazonaws.com", bucket: bucket, region: region, pathStyle: pathStyle,
                caFile: caFile),
            credentials: S3Credentials(accessKey: accessKey, secretKey: secretKey), prefix: prefix,
            redirect: redirect ? Self.redirectLifetime : nil)
    }

    /// Long enough for a client to follow the redirect; a download that started goes on past it.
    static let redirectLifetime = Duration.seconds(300)

    private static func driver(_ text: String, _ field: String) throws -> Driver {
        guard let driver = Driver(rawValue: text) else {
            throw WharfConfiguration.Invalid(description: "\(field): '\(text)' is not filesystem or s3")
        }
        return driver
    }
}
