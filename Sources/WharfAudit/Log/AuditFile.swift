#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A failed file operation of the audit log.
public struct AuditError: Error, CustomStringConvertible, Sendable {
    public let description: String
    /// The disk (or quota) is full.
    public let isDiskFull: Bool

    init(_ description: String, errno code: Int32? = nil) {
        if let code {
            self.description = "\(description): \(String(cString: strerror(code)))"
            isDiskFull = code == ENOSPC || code == EDQUOT
        } else {
            self.description = description
            isDiskFull = false
        }
    }
}

/// An open segment or export file: appends, positional reads, fsync. Used by one thread at a time.
final class AuditFile {
    let path: String
    private let fd: Int32

    init(path: String, writable: Bool) throws(AuditError) {
        self.path = path
        fd = writable ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o640) : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw AuditError("open \(path)", errno: errno) }
    }

    deinit { close(fd) }

    func size() throws(AuditError) -> Int64 {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw AuditError("stat \(path)", errno: errno) }
        return Int64(info.st_size)
    }

    func write(_ bytes: [UInt8], at offset: Int64) throws(AuditError) {
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes {
                pwrite(fd, $0.baseAddress! + written, $0.count - written, off_t(offset) + off_t(written))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw AuditError("write \(path)", errno: errno)
            }
            written += n
        }
    }

    func sync() throws(AuditError) {
        guard fdatasync(fd) == 0 else { throw AuditError("fsync \(path)", errno: errno) }
    }

    func truncate(to size: Int64) throws(AuditError) {
        guard ftruncate(fd, off_t(size)) == 0 else { throw AuditError("truncate \(path)", errno: errno) }
    }

    /// Up to `count` bytes at `offset`; fewer only at the end of the file.
    func read(count: Int, at offset: Int64) throws(AuditError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var have = 0
        while have < count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + have, count - have, off_t(offset) + off_t(have)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AuditError("read \(path)", errno: errno)
            }
            if n == 0 { break }
            have += n
        }
        return Array(bytes[..<have])
    }

    /// Calls `body` with each complete line (without its newline) from `offset` on, and its offset, until it
    /// returns false. Returns where the complete lines end: bytes after that are a line still being written or
    /// torn by a crash.
    @discardableResult
    func forEachLine(from offset: Int64 = 0, _ body: (Int64, ArraySlice<UInt8>) throws -> Bool) throws -> Int64 {
        let block = 1 << 20
        var pending: [UInt8] = []
        var pendingOffset = offset
        var position = offset
        while true {
            let bytes = try read(count: block, at: position)
            if bytes.isEmpty { return pendingOffset }
            position += Int64(bytes.count)
            pending.append(contentsOf: bytes)
            var start = 0
            while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
                guard try body(pendingOffset, pending[start..<newline]) else { return pendingOffset }
                pendingOffset += Int64(newline - start + 1)
                start = newline + 1
            }
            pending.removeFirst(start)
        }
    }

    /// Makes a new or removed directory entry durable.
    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }
}
