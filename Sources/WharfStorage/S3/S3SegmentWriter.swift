import NIOCore
import WharfCore

import struct Crypto.SymmetricKey

/// One request's writing to an S3 upload session (see `S3UploadState` for the layout): the unfinished segment in
/// memory, every full one sent on as soon as it fills. Nothing it writes is part of the session until its state is
/// saved, and it writes only segments past the last acknowledged one, so a failed request leaves the session as it
/// was.
struct S3SegmentWriter: Sendable {
    let uploads: S3Uploads
    let id: String
    private(set) var state: S3UploadState
    private(set) var hasher: ResumableHasher
    /// Encrypted sessions: the session's data key.
    let dataKey: SymmetricKey?
    private let sealer: SegmentSealer
    /// The plaintext of the segment being filled, and where it starts in the blob.
    private var pending: ByteBuffer
    private var segmentStart: Int64

    private static var segmentSize: Int64 { Int64(S3Uploads.segmentSize) }

    /// Where the session's bytes end, with this request's.
    var end: Int64 { segmentStart + Int64(pending.readableBytes) }
    /// The size of the stored (assembled) object.
    var storedSize: Int64 { dataKey == nil ? end : EncryptedLayout.fileSize(plaintext: end) }
    /// Whether the whole blob is the segment in memory, so one PUT writes it.
    var fitsOnePut: Bool { segmentStart == 0 }

    init(_ uploads: S3Uploads, id: String, state: S3UploadState) async throws {
        self.uploads = uploads
        self.id = id
        self.state = state
        guard let hasher = ResumableHasher(saved: state.hash) else {
            throw RegistryError.internalError("upload \(id): the saved hash state is not one this build reads")
        }
        self.hasher = hasher
        if let header = state.header {
            guard let keys = uploads.store.encryption else {
                throw RegistryError.internalError("upload \(id) is encrypted and encryption is off")
            }
            dataKey = try BlobHeader(parsing: [UInt8](header), path: "upload \(id)").dataKey(binding: .upload(id), keys: keys)
                .key
        } else {
            dataKey = nil
        }
        sealer = SegmentSealer(dataKey: dataKey)
        segmentStart = state.size / Self.segmentSize * Self.segmentSize
        pending = ByteBuffer()
        if state.size > segmentStart {
            let name = "tail-\(state.size)"
            let stored = try await uploads.s3.object(uploads.key(id, name), upTo: Self.storedSize(Self.segmentSize))
            pending = try sealer.open(stored, at: segmentStart, name: name)
            guard Int64(pending.readableBytes) == state.size - segmentStart else {
                throw RegistryError.internalError("upload \(id): \(name) does not hold the bytes the session counts")
            }
        }
    }

    /// Appends a request body, sending on each segment as it fills.
    mutating func write<Body: AsyncSequence>(_ body: Body) async throws where Body.Element == ByteBuffer {
        for try await chunk in body {
            if let limit = uploads.maxBlobBytes, end + Int64(chunk.readableBytes) > limit {
                throw RegistryError.sizeInvalid("blob exceeds the size limit of \(limit) bytes", status: 413)
            }
            chunk.withUnsafeReadableBytes { hasher.update($0) }
            var chunk = chunk
            pending.writeBuffer(&chunk)
            while pending.readableBytes >= S3Uploads.segmentSize { try await sendSegment() }
        }
    }

    /// Saves the unfinished segment as the tail object of the new size, and the state to go with it.
    mutating func saveTail() async throws {
        if end != state.size, pending.readableBytes > 0 {
            try await uploads.s3.put(uploads.key(id, "tail-\(end)"), buffer: try sealer.seal(pending, at: segmentStart))
        }
        state.size = end
        state.hash = hasher.saved
    }

    /// Writes the whole blob as the object `key`: `header` (empty unless encrypted), then every segment.
    func assemble(at key: String, header: [UInt8]) async throws {
        let s3 = uploads.s3
        var first = ByteBuffer(bytes: header)
        if fitsOnePut {
            var tail = try sealer.seal(pending, at: 0)
            first.writeBuffer(&tail)
            try await s3.put(key, buffer: first)
            return
        }
        var segment0 = try await s3.object(uploads.key(id, "segment-0"), upTo: Self.storedSize(Self.segmentSize))
        first.writeBuffer(&segment0)
        let upload: String
        if let multipart = state.multipart { upload = multipart } else { upload = try await s3.startMultipart(key) }
        var parts = state.parts.filter { $0.number <= Int(segmentStart / Self.segmentSize) }
        parts.append(.init(number: 1, etag: try await s3.uploadPart(key, upload: upload, number: 1, buffer: first)))
        if pending.readableBytes > 0 {
            let number = Int(segmentStart / Self.segmentSize) + 1
            let etag = try await s3.uploadPart(
                key, upload: upload, number: number, buffer: try sealer.seal(pending, at: segmentStart))
            parts.append(.init(number: number, etag: etag))
        }
        try await s3.completeMultipart(
            key, upload: upload, parts: parts.sorted { $0.number < $1.number }.map { ($0.number, $0.etag) })
        // RGW answers a completion without an ETag: the size is what shows that every part is in.
        guard try await s3.size(of: key) == storedSize else {
            throw RegistryError.internalError("upload \(id): the assembled object does not have the size of its parts")
        }
    }

    /// Sends the full segment at the front of `pending`: segment 0 to an object of its own, the others as parts.
    private mutating func sendSegment() async throws {
        let s3 = uploads.s3
        let stored = try sealer.seal(pending.readSlice(length: S3Uploads.segmentSize)!, at: segmentStart)
        pending.discardReadBytes()
        let index = Int(segmentStart / Self.segmentSize)
        if index == 0 {
            try await s3.put(uploads.key(id, "segment-0"), buffer: stored)
        } else {
            guard index < S3Uploads.maxParts else {
                throw RegistryError.sizeInvalid(
                    "an upload to object storage holds at most \(S3Uploads.maxParts) segments of \(Self.segmentSize) bytes",
                    status: 413)
            }
            let key = uploads.key(id, "blob")
            if state.multipart == nil { state.multipart = try await s3.startMultipart(key) }
            let upload = state.multipart!
            let etag = try await s3.uploadPart(key, upload: upload, number: index + 1, buffer: stored)
            state.parts.removeAll { $0.number == index + 1 }
            state.parts.append(.init(number: index + 1, etag: etag))
            try await uploads.metadata.renewUploadClaim(id: id, for: S3Uploads.claimSeconds)
        }
        segmentStart += Self.segmentSize
    }

    /// What is stored of `plaintext` bytes of a segment.
    private static func storedSize(_ plaintext: Int64) -> Int {
        Int(EncryptedLayout.fileSize(plaintext: plaintext)) - BlobHeader.size
    }
}
