import NIOCore
import Prometheus
import Synchronization

/// Passes a body through, adding the size of every buffer to a counter and to the request's tally.
struct CountingBody<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
    typealias Element = ByteBuffer
    let base: Base
    let counter: Counter
    let tally: RequestTally? = RequestTally.current

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let counter: Counter
        let tally: RequestTally?

        mutating func next() async throws -> ByteBuffer? {
            let buffer = try await base.next()
            if let buffer {
                counter.increment(by: Int64(buffer.readableBytes))
                tally?.bytesIn.add(Int64(buffer.readableBytes), ordering: .relaxed)
            }
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), counter: counter, tally: tally) }
}
