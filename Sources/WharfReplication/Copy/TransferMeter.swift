import NIOCore
import Synchronization

/// Counts the blob bytes a task sends and holds them to the rule's bandwidth limit. A rule's tasks share one
/// `Throttle`, so the limit is the rule's, however many copies run.
struct TransferMeter: Sendable {
    let throttle: Throttle?
    let counted: @Sendable (Int64) -> Void

    func metered<Base: AsyncSequence & Sendable>(_ base: Base) -> Metered<Base> where Base.Element == ByteBuffer {
        Metered(base: base, meter: self)
    }

    struct Metered<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element == ByteBuffer {
        typealias Element = ByteBuffer
        let base: Base
        let meter: TransferMeter

        struct AsyncIterator: AsyncIteratorProtocol {
            var base: Base.AsyncIterator
            let meter: TransferMeter

            mutating func next() async throws -> ByteBuffer? {
                guard let buffer = try await base.next() else { return nil }
                if let throttle = meter.throttle { try await throttle.take(Int64(buffer.readableBytes)) }
                meter.counted(Int64(buffer.readableBytes))
                return buffer
            }
        }

        func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), meter: meter) }
    }
}

/// A byte rate: each `take(n)` waits until the bytes before it have had their time at `bytesPerSecond`.
final class Throttle: Sendable {
    let bytesPerSecond: Int64
    private let nextFree = Mutex(ContinuousClock.now)

    init(bytesPerSecond: Int64) { self.bytesPerSecond = bytesPerSecond }

    func take(_ bytes: Int64) async throws {
        let now = ContinuousClock.now
        let start = nextFree.withLock { next -> ContinuousClock.Instant in
            let start = max(next, now)
            next = start + .seconds(Double(bytes) / Double(bytesPerSecond))
            return start
        }
        if start > now { try await Task.sleep(until: start, clock: .continuous) }
    }
}
