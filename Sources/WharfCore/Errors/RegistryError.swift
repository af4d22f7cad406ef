/// An error the registry reports to clients, carrying one of the distribution-spec error codes.
///
/// Every layer below the HTTP server throws these; the server turns them into the OCI JSON error body
/// in one place, so the code, the HTTP status and the message always travel together.
public struct RegistryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Every code the server can answer with. The distribution spec says the code of a 4xx error body "MUST be one
    /// of" its list; the two others are only ever sent with a 5xx status, which that rule does not cover.
    public enum Code: String, CaseIterable, Sendable {
        case blobUnknown = "BLOB_UNKNOWN"
        case blobUploadInvalid = "BLOB_UPLOAD_INVALID"
        case blobUploadUnknown = "BLOB_UPLOAD_UNKNOWN"
        case digestInvalid = "DIGEST_INVALID"
        case manifestBlobUnknown = "MANIFEST_BLOB_UNKNOWN"
        case manifestInvalid = "MANIFEST_INVALID"
        case manifestUnknown = "MANIFEST_UNKNOWN"
        case nameInvalid = "NAME_INVALID"
        case nameUnknown = "NAME_UNKNOWN"
        case sizeInvalid = "SIZE_INVALID"
        case unauthorized = "UNAUTHORIZED"
        case denied = "DENIED"
        case unsupported = "UNSUPPORTED"
        case tooManyRequests = "TOOMANYREQUESTS"
        /// Not a spec code: the server failed (disk, database). Reported with a 5xx status only.
        case internalError = "INTERNAL_ERROR"
        /// Not a spec code: the store has no space left for the write. Reported with 507 only.
        case storageFull = "STORAGE_FULL"

        /// Whether the distribution spec lists this code.
        public var isSpecCode: Bool { self != .internalError && self != .storageFull }
    }

    public let code: Code
    /// The HTTP status the error is answered with.
    public let httpStatus: Int
    public let message: String
    public let detail: String?

    public init(_ code: Code, status: Int, _ message: String, detail: String? = nil) {
        assert(code.isSpecCode || status >= 500, "a \(status) answer must carry a distribution-spec code")
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
