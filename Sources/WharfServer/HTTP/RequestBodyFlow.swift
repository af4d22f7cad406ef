import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTPTypes

/// Keeps a request body and an answer that comes before it in step, in the HTTP/1 pipeline:
///
/// - `Expect: 100-continue`: `100 Continue` goes out when the application first reads the body (`SendContinue`),
///   so a request refused by routing, access control or the handler's own checks is answered at once, and the client
///   never sends the body. The connection is then closed, as the body's bytes may still follow on it.
/// - An answer sent while the client is still sending: the rest of the body is read and dropped, up to
///   `drainLimit` bytes (the client then reads the answer and the connection stays usable). A body with more left
///   than that, or of unknown length, gets `Connection: close` on the answer, the output is shut after it, and at most
///   `drainLimit` further bytes are read before the connection closes. Either way the client is not left sending
///   into a server that has stopped reading.
final class RequestBodyFlow: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Asks for `100 Continue` when the client is waiting for it; ignored otherwise.
    struct SendContinue {}

    static let drainLimit = 8 << 20
    /// How long a client told `Connection: close` may keep the connection open before it is closed.
    static let lingerTime = TimeAmount.seconds(5)

    /// One request and its answer. Requests a client pipelines queue up behind the one being answered.
    private struct Exchange {
        var awaitingContinue: Bool
        var declaredLength: Int?
        var received = 0
        var bodyOpen = true
        var answered = false
        var closeAfterAnswer = false
    }
    private var exchanges = CircularBuffer<Exchange>()
    /// Set once an answer is out while its body is still arriving: counts what is dropped.
    private var dropped: Int?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            // NIO frames every answer to CONNECT as bodyless (RFC 9112 §6.3 says so of a 2xx only): such an answer
            // can only end with the connection.
            exchanges.append(
                Exchange(
                    awaitingContinue: head.headerFields[values: .expect].contains { $0.lowercased() == "100-continue" },
                    declaredLength: head.headerFields[.contentLength].flatMap { Int($0) },
                    closeAfterAnswer: head.method == .connect))
        case .body(let buffer):
            if !exchanges.isEmpty { exchanges[exchanges.index(before: exchanges.endIndex)].received += buffer.readableBytes }
            if var count = dropped {
                count += buffer.readableBytes
                dropped = count
                if count > Self.drainLimit {
                    context.close(promise: nil)
                    return
                }
            }
        case .end:
            if !exchanges.isEmpty { exchanges[exchanges.index(before: exchanges.endIndex)].bodyOpen = false }
            dropped = nil
        }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is SendContinue else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        if let exchange = exchanges.first, exchange.awaitingContinue, !exchange.answered {
            exchanges[exchanges.startIndex].awaitingContinue = false
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
        }
        promise?.succeed()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard var exchange = exchanges.first else { return context.write(data, promise: promise) }
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.kind != .informational:
            exchange.answered = true
            if exchange.closeAfterAnswer { head.headerFields[.connection] = "close" }
            if exchange.bodyOpen {
                let left = exchange.declaredLength.map { $0 - exchange.received } ?? .max
                if exchange.awaitingContinue || left > Self.drainLimit {
                    exchange.closeAfterAnswer = true
                    head.headerFields[.connection] = "close"
                }
                dropped = 0
            }
            exchanges[exchanges.startIndex] = exchange
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .end:
            exchanges.removeFirst()
            guard exchange.closeAfterAnswer else { return context.write(data, promise: promise) }
            context.writeAndFlush(data, promise: promise)
            // Shut only the output: closing outright with unread bytes would reset the connection, and the client
            // could lose the answer. A client that holds the connection open is closed after the linger time.
            context.close(mode: .output, promise: nil)
            let channel = context.channel
            context.eventLoop.scheduleTask(in: Self.lingerTime) { channel.close(promise: nil) }
        default:
            context.write(data, promise: promise)
        }
    }
}

/// A request body that asks for `100 Continue` when it is first read.
struct ContinueOnFirstRead: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let base: RequestBody
    let channel: any Channel

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: RequestBody.AsyncIterator
        let channel: any Channel
        var asked = false

        mutating func next() async throws -> ByteBuffer? {
            if !asked {
                asked = true
                try? await channel.triggerUserOutboundEvent(RequestBodyFlow.SendContinue()).get()
            }
            return try await base.next()
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), channel: channel) }
}
