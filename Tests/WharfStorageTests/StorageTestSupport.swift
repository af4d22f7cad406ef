import Foundation
import Logging
import NIOCore

@testable import WharfStorage

/// A registry on `directory`; encrypted with master keys from `keyDirectory` (default `<directory>/keys`, where a
/// first key is created).
func openRegistry(_ directory: String, encrypted: Bool, keyDirectory: String? = nil) throws -> Registry {
    let encryption = EncryptionSettings(
        provider: KeyringDirectory(path: keyDirectory ?? "\(directory)/keys"), createFirstKey: keyDirectory == nil)
    return try Registry(
        configuration: StorageConfiguration(dataDirectory: directory, encryption: encrypted ? encryption : nil),
        logger: Logger(label: "test"))
}

extension Array where Element == ByteBuffer {
    /// The buffers as an async sequence, the way a request body arrives.
    var async: AsyncStream<ByteBuffer> {
        AsyncStream { continuation in
            for buffer in self { continuation.yield(buffer) }
            continuation.finish()
        }
    }
}
