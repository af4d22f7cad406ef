import HummingbirdCore
import Logging
import NIOCore

/// Serves each connection on its own event loop instead of the cooperative pool.
///
/// Hummingbird runs a connection's requests in a task on the global executor: every request crosses from the event
/// loop that read it to a pool thread and back to the loop to write the answer. A cached manifest GET needs no I/O,
/// so those two thread hand-overs were most of its cost. With the loop as the task's preferred executor, the task
/// resumes where its bytes arrived. Blocking file and database work still leaves the loop: storage runs it on NIO's
/// thread pool or the database's own threads, and the task comes back to its loop when it is done.
struct EventLoopChannel<Base: ServerChildChannel>: ServerChildChannel {
    typealias Value = Base.Value
    let base: Base

    init(_ base: Base) { self.base = base }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await withTaskExecutorPreference(EventLoopTaskExecutor(value.channel.eventLoop)) {
            await base.handle(value: value, logger: logger)
        }
    }
}

/// An event loop as a task executor: jobs run on the loop's thread, queued behind its I/O.
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    init(_ loop: any EventLoop) { self.loop = loop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
