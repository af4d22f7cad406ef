/// An error the registry reports to clients, carrying one of the distribution-spec error codes.
///
/// Every layer below the HTTP server throws these; the server turns them into the OCI JSON error body
/// in one place, so the code, the HTTP status and the message always travel together.
public struct RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: RawRepresentable, Hashable, Sendable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        public static let blobUnknown = Code(rawValue: "BLOB_UNKNOWN")
        public static let blobUploadInvalid = Code(rawValue: "BLOB_UPLOAD_INVALID")
        public static let blobUploadUnknown = Code(rawValue: "BLOB_UPLOAD_UNKNOWN")
        public static let digestInvalid = Code(rawValue: "DIGEST_INVALID")
        public static let manifestBlobUnknown = Code(rawValue: "MANIFEST_BLOB_UNKNOWN")
        public static let manifestInvalid = Code(rawValue: "MANIFEST_INVALID")
        public static let manifestUnknown = Code(rawValue: "MANIFEST_UNKNOWN")
        public static let nameInvalid = Code(rawValue: "NAME_INVALID")
        public static let nameUnknown = Code(rawValue: "NAME_UNKNOWN")
        public static let sizeInvalid = Code(rawValue: "SIZE_INVALID")
        public static let unauthorized = Code(rawValue: "UNAUTHORIZED")
        public static let denied = Code(rawValue: "DENIED")
        public static let unsupported = Code(rawValue: "UNSUPPORTED")
        public static let tooManyRequests = Code(rawValue: "TOOMANYREQUESTS")
        /// Not a spec code: the server failed (disk, database). Reported with a 5xx status.
        public static let internalError = Code(rawValue: "INTERNAL_ERROR")
        /// Not a spec code: the store has no space left for the write.
        public static let storageFull = Code(rawValue: "STORAGE_FULL")
    }

    public let code: Code
    /// The HTTP status the error is answered with.
    public let httpStatus: Int
    public let message: String
    public let detail: String?

    public init(_ code: Code, status: Int, _ message: String, detail: String? = nil) {
        self.code = code
        self.httpStatus = status
        self.message = message
        self.detail = detail
    }

    public var description: String { "\(code.rawValue) (\(httpStatus)): \(message)" + (detail.map { " [\($0)]" } ?? "") }
}

extension RegistryError {
    public static func blobUnknown(_ digest: String) -> RegistryError {
        RegistryError(.blobUnknown, status: 404, "blob unknown to registry", detail: digest)
    }
    public static func blobUploadUnknown(_ id: String) -> RegistryError {
        RegistryError(.blobUploadUnknown, status: 404, "blob upload unknown to registry", detail: id)
    }
    public static func blobUploadInvalid(_ message: String, status: Int = 400) -> RegistryError {
        RegistryError(.blobUploadInvalid, status: status, message)
    }
    public static func digestInvalid(_ message: String, detail: String? = nil) -> RegistryError {
        RegistryError(.digestInvalid, status: 400, message, detail: detail)
    }
    public static func manifestInvalid(_ message: String) -> RegistryError {
        RegistryError(.manifestInvalid, status: 400, "manifest invalid", detail: message)
    }
    public static func manifestUnknown(_ reference: String) -> RegistryError {
        RegistryError(.manifestUnknown, status: 404, "manifest unknown to registry", detail: reference)
    }
    public static func manifestBlobUnknown(_ digest: String) -> RegistryError {
        RegistryError(.manifestBlobUnknown, status: 400, "manifest references a blob unknown to the repository", detail: digest)
    }
    public static func nameInvalid(_ message: String) -> RegistryError {
        RegistryError(.nameInvalid, status: 400, "invalid repository name", detail: message)
    }
    public static func nameUnknown(_ name: String) -> RegistryError {
        RegistryError(.nameUnknown, status: 404, "repository name not known to registry", detail: name)
    }
    public static func sizeInvalid(_ message: String, status: Int = 400) -> RegistryError {
        RegistryError(.sizeInvalid, status: status, message)
    }
    public static func unsupported(_ message: String, status: Int = 405) -> RegistryError {
        RegistryError(.unsupported, status: status, message)
    }
    public static func internalError(_ message: String) -> RegistryError {
        RegistryError(.internalError, status: 500, "internal server error", detail: message)
    }
    public static let storageFull = RegistryError(
        .storageFull, status: 507, "the registry's storage is out of space; the upload was discarded")
}
