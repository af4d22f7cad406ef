import Hummingbird
import NIOCore

/// The request context: Hummingbird's basics plus the peer's address, which the audit log records.
struct WharfRequestContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
