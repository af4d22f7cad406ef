import NIOCore
import WharfCore

/// A range of a stored blob, read 1 MiB at a time; the file is open only while it is read.
package struct BlobRangeStream: AsyncSequence, Sendable {
    package typealias Element = ByteBuffer
    let registry: Registry
    let repository: RepositoryName
    let digest: Digest
    let offset: Int64
    let length: Int64

    package init(registry: Registry, repository: RepositoryName, digest: Digest, offset: Int64, length: Int64) {
        self.registry = registry
        self.repository = repository
        self.digest = digest
        self.offset = offset
        self.length = length
    }

    package final class AsyncIterator: AsyncIteratorProtocol {
        let stream: BlobRangeStream
        var file: (any BlobReader)?
        var position: Int64
        let end: Int64

        init(_ stream: BlobRangeStream) {
            self.stream = stream
            position = stream.offset
            end = stream.offset + stream.length
        }

        deinit { file?.close() }

        package func next() async throws -> ByteBuffer? {
            guard position < end else {
                file?.close()
                file = nil
                return nil
            }
            if file == nil {
                file = try await stream.registry.openBlob(stream.repository, stream.digest)
                file!.willRead(from: position, to: end)
            }
            let chunk = try await file!.read(at: position, count: BlobWindow.at(position, end: end))
            guard chunk.readableBytes > 0 else { throw RegistryError.internalError("blob \(stream.digest) ended early") }
            position += Int64(chunk.readableBytes)
            return chunk
        }
    }

    package func makeAsyncIterator() -> AsyncIterator { AsyncIterator(self) }
}
