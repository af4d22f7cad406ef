import NIOCore
import WharfCore

#if canImport(Glibc)
    import Glibc
#endif

/// Where the bytes of an upload session go, in order: a plain file, or chunks sealed under the session's
/// data key (`EncryptedUploadFile`). A sink is used by one request at a time (sessions are exclusive).
protocol UploadSink: AnyObject, Sendable {
    /// The bytes the session holds.
    var size: Int64 { get }
    /// Appends the next bytes.
    func append(_ bytes: UnsafeRawBufferPointer) throws
    /// Makes what was appended part of the session's state on disk.
    func finish() throws
    /// Goes back to `size` bytes after a failure.
    func rollback(to size: Int64) throws
    /// Reads the session's bytes in order, for re-hashing after a restart.
    func read(_ body: (UnsafeRawBufferPointer) -> Void) throws
    /// Makes the whole file durable, bound (when encrypted) to the blob it turned out to hold.
    func complete(as blob: KeyBinding) throws
    func close()
}

/// An unencrypted upload file: the bytes as they came.
final class PlainUploadFile: UploadSink, @unchecked Sendable {
    private let file: FileDescriptor
    private(set) var size: Int64

    init(path: String) throws {
        file = try FileDescriptor.open(path, flags: O_RDWR)
        size = try file.size()
    }

    func append(_ bytes: UnsafeRawBufferPointer) throws {
        try file.write(bytes, at: size)
        size += Int64(bytes.count)
    }

    func finish() {}

    func rollback(to size: Int64) throws {
        try file.truncate(to: size)
        self.size = size
    }

    func read(_ body: (UnsafeRawBufferPointer) -> Void) throws {
        var offset: Int64 = 0
        while offset < size {
            let chunk = try file.read(count: 1 << 20, at: offset, allocator: ByteBufferAllocator())
            if chunk.readableBytes == 0 { break }
            chunk.withUnsafeReadableBytes { body($0) }
            offset += Int64(chunk.readableBytes)
        }
    }

    func complete(as blob: KeyBinding) throws { try file.sync() }

    func close() { file.close() }
}
