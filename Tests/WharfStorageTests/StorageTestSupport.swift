import Foundation
import Logging
import NIOCore
import WharfTestSupport

@testable import WharfStorage

/// A registry on `directory`; encrypted with master keys from `keyDirectory` (default `<directory>/keys`, where a
/// first key is created). Its metadata is the directory's SQLite file, or a PostgreSQL database (`TestMetadata`): the
/// one of `directory`, so that opening it again finds what the last one wrote.
func openRegistry(_ directory: String, encrypted: Bool, keyDirectory: String? = nil) throws -> Registry {
    let encryption = EncryptionSettings(
        provider: KeyringDirectory(path: keyDirectory ?? "\(directory)/keys"), createFirstKey: keyDirectory == nil)
    return try Registry(
        configuration: StorageConfiguration(
            dataDirectory: directory, encryption: encrypted ? encryption : nil,
            postgres: try TestMetadata.database(for: directory)),
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
