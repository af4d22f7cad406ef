import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Sends each record, as its JSON line, somewhere a SIEM collects it: a file or syslog. Best effort: the
/// segments are the record of truth, and a forwarding failure never holds up the log.
protocol AuditForwarder {
    func forward(_ lines: [ArraySlice<UInt8>]) throws
}

/// Appends lines to a file (opened with O_APPEND, so a log shipper can tail it).
final class FileForwarder: AuditForwarder {
    private let path: String
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw AuditError("open forwarding file \(path)", errno: errno) }
    }

    deinit { close(fd) }

    func forward(_ lines: [ArraySlice<UInt8>]) throws {
        var buffer: [UInt8] = []
        for line in lines {
            buffer.append(contentsOf: line)
            buffer.append(UInt8(ascii: "\n"))
        }
        var written = 0
        while written < buffer.count {
            let n = buffer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AuditError("write forwarding file \(path)", errno: errno)
            }
            written += n
        }
    }
}

/// Sends each line as one RFC 5424 syslog message (facility "log audit", severity info) over UDP or a Unix
/// datagram socket.
final class SyslogForwarder: AuditForwarder {
    private let target: String
    private let fd: Int32
    private var address: sockaddr_storage
    private let addressLength: socklen_t
    private let host = ProcessInfo.processInfo.hostName

    /// `udp://HOST:PORT` (an IP address) or `unix:///dev/log`.
    init(_ target: String) throws {
        self.target = target
        var storage = sockaddr_storage()
        if target.hasPrefix("unix://") {
            let path = String(target.dropFirst("unix://".count))
            var unixAddress = sockaddr_un()
            unixAddress.sun_family = sa_family_t(AF_UNIX)
            guard path.utf8.count < MemoryLayout.size(ofValue: unixAddress.sun_path) else {
                throw AuditError("syslog socket path too long: \(path)")
            }
            withUnsafeMutableBytes(of: &unixAddress.sun_path) { buffer in
                for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
            }
            withUnsafeBytes(of: unixAddress) { source in
                withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: source) }
            }
            addressLength = socklen_t(MemoryLayout<sockaddr_un>.size)
            fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        } else if target.hasPrefix("udp://") {
            let hostPort = target.dropFirst("udp://".count)
            guard let colon = hostPort.lastIndex(of: ":"), let port = UInt16(hostPort[hostPort.index(after: colon)...]) else {
                throw AuditError("syslog target \(target) is not udp://HOST:PORT")
            }
            let host = hostPort[..<colon].trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
            var v4 = sockaddr_in()
            var v6 = sockaddr_in6()
            if inet_pton(AF_INET, host, &v4.sin_addr) == 1 {
                v4.sin_family = sa_family_t(AF_INET)
                v4.sin_port = port.bigEndian
                withUnsafeBytes(of: v4) { source in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: source) } }
                addressLength = socklen_t(MemoryLayout<sockaddr_in>.size)
                fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            } else if inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 {
                v6.sin6_family = sa_family_t(AF_INET6)
                v6.sin6_port = port.bigEndian
                withUnsafeBytes(of: v6) { source in withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: source) } }
                addressLength = socklen_t(MemoryLayout<sockaddr_in6>.size)
                fd = socket(AF_INET6, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            } else {
                throw AuditError("syslog host in \(target) must be an IP address")
            }
        } else {
            throw AuditError("syslog target \(target) must start with udp:// or unix://")
        }
        guard fd >= 0 else { throw AuditError("syslog socket", errno: errno) }
        address = storage
    }

    deinit { close(fd) }

    func forward(_ lines: [ArraySlice<UInt8>]) throws {
        for line in lines {
            let time = AuditLine.time(line) ?? "-"
            var message = Array("<110>1 \(time) \(host) wharf - audit - ".utf8)
            message.append(contentsOf: line)
            let sent = message.withUnsafeBytes { bytes in
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, bytes.baseAddress, bytes.count, 0, $0, addressLength)
                    }
                }
            }
            if sent < 0 { throw AuditError("send to syslog \(target)", errno: errno) }
        }
    }
}
