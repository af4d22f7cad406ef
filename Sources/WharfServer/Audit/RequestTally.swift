import Synchronization

/// The body bytes one request received and sent, for its audit record. The request's task carries it, so
/// that the body readers deep in the routes can count into it.
final class RequestTally: Sendable {
    let bytesIn = Atomic<Int64>(0)
    let bytesOut = Atomic<Int64>(0)

    @TaskLocal static var current: RequestTally?
}
