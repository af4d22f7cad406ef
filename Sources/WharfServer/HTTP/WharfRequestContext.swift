import Hummingbird
import NIOCore

/// The request context: Hummingbird's basics plus the peer's address, which the audit log records, and the channel.
struct WharfRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?
    /// For `100 Continue`, which goes out on the channel when the body is first read.
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
        channel = source.channel
    }
}

extension SocketAddress {
    /// The address as text, for logs and audit records. IPv4 is formatted here: `ipAddress` goes through
    /// inet_ntop and its sprintf, which showed in profiles of small requests.
    var text: String {
        guard case .v4(let address) = self else { return ipAddress ?? pathname ?? "-" }
        // `sockaddr_in`: family (2 bytes), port (2), then the address (4), in network byte order. Read as bytes, as its
        // fields' owning module (Glibc or NIO's copy of the header) depends on the build.
        return withUnsafeBytes(of: address.address) { raw in
            let octets = raw[4..<8]
            return String(unsafeUninitializedCapacity: 15) { text in
                var count = 0
                func put(_ byte: UInt8) {
                    text[count] = byte
                    count += 1
                }
                for (index, octet) in octets.enumerated() {
                    if index > 0 { put(UInt8(ascii: ".")) }
                    if octet >= 100 { put(0x30 + octet / 100) }
                    if octet >= 10 { put(0x30 + octet / 10 % 10) }
                    put(0x30 + octet % 10)
                }
                return count
            }
        }
    }
}
