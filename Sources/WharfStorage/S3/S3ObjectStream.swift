import AsyncHTTPClient
import NIOCore
import WharfCore

/// The body of one Range GET, taken in order a piece at a time: the response streams with backpressure, so what is
/// held is at most one piece and the network buffer it ends in, never the range.
///
/// Used by one reader at a time (`S3BlobObject` hands it from read to read under its lock).
final class S3ObjectStream: @unchecked Sendable {
    private var body: HTTPClientResponse.Body.AsyncIterator
    private var buffered = ByteBuffer()
    /// The object offset of the next byte.
    private(set) var position: Int64
    let end: Int64

    /// Starts a GET of the object's bytes `range`.
    init(_ s3: S3Client, key: String, range: Range<Int64>) async throws {
        body = try await s3.get(key, range: range.lowerBound...(range.upperBound - 1)).body.makeAsyncIterator()
        position = range.lowerBound
        end = range.upperBound
    }

    /// The next `count` bytes, in one buffer of that size (each byte copied once); throws when the object ends first.
    func next(_ count: Int) async throws -> ByteBuffer {
        precondition(position + Int64(count) <= end)
        var piece = ByteBufferAllocator().buffer(capacity: count)
        while piece.readableBytes < count {
            if buffered.readableBytes == 0 {
                guard let more = try await body.next() else {
                    throw RegistryError.internalError("an object of the bucket ended before the bytes it was read for")
                }
                buffered = more
            }
            var part = buffered.readSlice(length: min(count - piece.readableBytes, buffered.readableBytes))!
            piece.writeBuffer(&part)
        }
        if buffered.readableBytes == 0 { buffered = ByteBuffer() }  // let go of the network buffer
        position += Int64(count)
        return piece
    }
}
