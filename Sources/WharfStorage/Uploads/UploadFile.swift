import NIOCore
import WharfCore

/// Appends a streamed request body to an upload session's file, hashing as it goes.
///
/// Bytes are gathered into writes of up to `batchSize` so that a fast client costs one thread-pool hop per
/// megabyte, not per network read. On any failure the file goes back to where it started, so a session's size
/// always equals the bytes acknowledged to the client.
enum UploadFile {
    static let batchSize = 1 << 20

    struct Outcome: Sendable {
        var size: Int64
        var hasher: DigestHasher?
    }

    static func append<Body: AsyncSequence>(
        _ body: Body, to sink: any UploadSink, hasher: DigestHasher?, limit: Int64?
    ) async throws -> Outcome where Body.Element == ByteBuffer {
        let start = sink.size
        var outcome = Outcome(size: start, hasher: hasher)
        var pending = ByteBuffer()
        func flush() async throws {
            guard pending.readableBytes > 0 else { return }
            let batch = pending
            let hasher = outcome.hasher
            outcome.hasher = try await blockingIO { () throws -> DigestHasher? in
                var hasher = hasher
                try batch.withUnsafeReadableBytes { raw in
                    hasher?.update(raw)
                    try sink.append(raw)
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
            try await blockingIO { try sink.finish() }
        } catch {
            try? await blockingIO { try sink.rollback(to: start) }
            throw error
        }
        return outcome
    }
}
