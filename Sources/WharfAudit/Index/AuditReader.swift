import Foundation

/// Queries a log's directory without a server, as `wharf audit query --audit-dir` does on a copy handed to an auditor.
/// The segments are indexed afresh into a temporary file: a copied index may be stale or missing, and the copy may be
/// read-only. Answers the same pages as the server's `/api/v1/audit`.
public final class AuditReader {
    private let segments: AuditSegments
    private let index: AuditIndex
    private let scratch: String

    public init(directory: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw AuditError("no audit log at \(directory)")
        }
        segments = AuditSegments(directory: directory)
        scratch = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-audit-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        do {
            index = try AuditIndex(path: scratch + "/index.db")
            // The head is what `verify` compares against; a query does not need it.
            try SegmentStorage.index(segments, numbers: try segments.numbers(), after: nil, into: index, head: (0, ""))
        } catch {
            try? FileManager.default.removeItem(atPath: scratch)
            throw error
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: scratch) }

    /// One page of records matching `filter`, newest first.
    public func page(_ filter: AuditFilter) throws -> AuditPage {
        try SegmentStorage.page(filter, index: index, segments: segments)
    }
}
