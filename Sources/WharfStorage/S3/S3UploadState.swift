import Foundation

/// Where an upload session on S3 stands, saved in its row after every request so that any instance carries it on.
///
/// The bytes are cut into segments of `S3Uploads.segmentSize` (a multiple of the encryption chunk size). Segment 0
/// waits in an object of its own, because the blob's first part must begin with the header that is only written once
/// the digest is known; segment n ≥ 1 is part n + 1 of a multipart upload; the unfinished last segment waits in a
/// tail object named by the size it ends at. So no request holds more than one segment in memory, and S3's 5 MiB
/// minimum for all parts but the last always holds.
struct S3UploadState: Codable, Sendable {
    struct Part: Codable, Sendable {
        let number: Int
        let etag: String
    }

    /// The bytes acknowledged to the client.
    var size: Int64
    /// The running hash over them (`ResumableHasher.saved`).
    var hash: Data
    /// Encrypted sessions: a blob header holding the session's data key, wrapped for the session.
    var header: Data?
    /// The multipart upload holding segments 1…, once there is one.
    var multipart: String?
    var parts: [Part] = []

    func encoded() -> String { String(decoding: try! JSONEncoder().encode(self), as: UTF8.self) }

    static func decode(_ text: String) throws -> S3UploadState {
        try JSONDecoder().decode(S3UploadState.self, from: Data(text.utf8))
    }
}
