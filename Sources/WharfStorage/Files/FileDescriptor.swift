import NIOCore
import NIOPosix
import WharfCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs blocking file-system work on NIO's thread pool, off the cooperative executor.
package func blockingIO<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await NIOThreadPool.singleton.runIfActive(body)
}

/// The `RegistryError` for a failed system call: out-of-space is reported as such, anything else as a 500.
func posixError(_ operation: String, _ path: String, errno code: Int32 = errno) -> RegistryError {
    if code == ENOSPC || code == EDQUOT { return .storageFull }
    return .internalError("\(operation) \(path): \(String(cString: strerror(code)))")
}

/// An open file, used with positional reads and writes. Closed exactly once, by `close()` or at deinit.
package final class FileDescriptor: @unchecked Sendable {
    package let path: String
    private var fd: Int32  // only mutated by close(), which callers never race with IO

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    deinit { if fd >= 0 { _ = Glibc.close(fd) } }

    package static func open(_ path: String, flags: Int32, mode: mode_t = 0o600) throws(RegistryError) -> FileDescriptor {
        let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else { throw posixError("open", path) }
        return FileDescriptor(path: path, fd: fd)
    }

    /// nil when the file does not exist.
    package static func openForReading(_ path: String) throws(RegistryError) -> FileDescriptor? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw posixError("open", path)
        }
        return FileDescriptor(path: path, fd: fd)
    }

    package func close() {
        if fd >= 0 { _ = Glibc.close(fd) }
        fd = -1
    }

    package func size() throws(RegistryError) -> Int64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw posixError("fstat", path) }
        return Int64(info.st_size)
    }

    package func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(RegistryError) {
        var written = 0
        while written < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + written, bytes.count - written, off_t(offset) + off_t(written))
            if n < 0 {
                if errno == EINTR { continue }
                throw posixError("write", path)
            }
            written += n
        }
    }

    /// Reads up to `count` bytes at `offset`; fewer only at the end of the file.
    package func read(count: Int, at offset: Int64, allocator: ByteBufferAllocator) throws(RegistryError) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: count)
        var failure: Int32 = 0
        while buffer.readableBytes < count {
            let have = buffer.readableBytes
            let got = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count - have) { pointer in
                let n = pread(fd, pointer.baseAddress!, count - have, off_t(offset) + off_t(have))
                if n < 0 { failure = errno }
                return max(n, 0)
            }
            if failure == EINTR {
                failure = 0
                continue
            }
            if failure != 0 { throw posixError("read", path, errno: failure) }
            if got == 0 { break }
        }
        return buffer
    }

    /// Reads `count` bytes at `offset`; a file that ends before them is damaged.
    package func readExactly(_ count: Int, at offset: Int64) throws(RegistryError) -> [UInt8] {
        let buffer = try read(count: count, at: offset, allocator: ByteBufferAllocator())
        guard buffer.readableBytes == count else { throw RegistryError.internalError("\(path) ends early") }
        return Array(buffer.readableBytesView)
    }

    package func truncate(to size: Int64) throws(RegistryError) {
        guard ftruncate(fd, off_t(size)) == 0 else { throw posixError("truncate", path) }
    }

    package func sync() throws(RegistryError) {
        guard fsync(fd) == 0 else { throw posixError("fsync", path) }
    }
}

/// Small POSIX helpers for paths.
package enum FileSystem {
    package static func makeDirectory(_ path: String, mode: mode_t = 0o755) throws(RegistryError) {
        var partial = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            partial += "/" + component
            if mkdir(partial, mode) != 0, errno != EEXIST { throw posixError("mkdir", partial) }
        }
    }

    package static func size(_ path: String) -> Int64? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int64(info.st_size)
    }

    /// Seconds since 1970 of the file's last change, or nil when it is absent.
    package static func modificationTime(_ path: String) -> Double? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9
    }

    package static func remove(_ path: String) {
        _ = unlink(path)
    }

    /// Atomically moves `from` to `to` and makes the new directory entry durable.
    package static func durableRename(_ from: String, _ to: String) throws(RegistryError) {
        guard rename(from, to) == 0 else { throw posixError("rename", to) }
        try syncDirectory(String(to[..<(to.lastIndex(of: "/") ?? to.endIndex)]))
    }

    package static func syncDirectory(_ path: String) throws(RegistryError) {
        let dir = try FileDescriptor.open(path, flags: O_RDONLY | O_DIRECTORY)
        try dir.sync()
        dir.close()
    }

    package static func list(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names = [String]()
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
