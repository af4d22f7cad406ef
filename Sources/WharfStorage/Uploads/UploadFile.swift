import NIOCore
import WharfCore

#if canImport(Glibc)
    import Glibc
#endif

/// Appends a streamed request body to an upload file, hashing as it goes.
///
/// Bytes are gathered into writes of up to `batchSize` so that a fast client costs one thread-pool hop per
/// megabyte, not per network read. On any failure the file is truncated back to where it started, so a
/// session's size always equals the bytes acknowledged to the client.
enum UploadFile {
    static let batchSize = 1 << 20

    struct Outcome: Sendable {
        var size: Int64
        var hasher: DigestHasher?
    }

    static func append<Body: AsyncSequence>(
        _ body: Body, to path: String, at start: Int64, hasher: DigestHasher?, limit: Int64?
    ) async throws -> Outcome where Body.Element == ByteBuffer {
        let file = try await blockingIO { try FileDescriptor.open(path, flags: O_WRONLY) }
        defer { file.close() }
        var outcome = Outcome(size: start, hasher: hasher)
        var pending = ByteBuffer()
        func flush() async throws {
            guard pending.readableBytes > 0 else { return }
            let batch = pending
            let offset = outcome.size
            let hasher = outcome.hasher
            outcome.hasher = try await blockingIO { () throws -> DigestHasher? in
                var hasher = hasher
                try batch.withUnsafeReadableBytes { raw in
                    hasher?.update(raw)
                    try file.write(raw, at: offset)
                }
                return hasher
            }
            outcome.size += Int64(batch.readableBytes)
            pending.clear()
        }
        do {
            for try await chunk in body {
                if let limit, outcome.size + Int64(pending.readableBytes + chunk.readableBytes) > limit {
                    throw RegistryError.sizeInvalid("blob exceeds the size limit of \(limit) bytes", status: 413)
                }
                if pending.readableBytes == 0 && chunk.readableBytes >= batchSize {
                    pending = chunk
                } else {
                    var chunk = chunk
                    pending.writeBuffer(&chunk)
                }
                if pending.readableBytes >= batchSize { try await flush() }
            }
            try await flush()
        } catch {
            try? await blockingIO { try file.truncate(to: start) }
            throw error
        }
        return outcome
    }
}
