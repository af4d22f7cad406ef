import Hummingbird
import NIOCore
import WharfCore

extension Request {
    /// The whole body, when it is at most `limit` bytes; past that, 413 `SIZE_INVALID` with `message`.
    func collectBody(upTo limit: Int, tooLarge message: String) async throws -> ByteBuffer {
        do {
            return try await body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw RegistryError(.sizeInvalid, status: 413, message)
        }
    }
}
