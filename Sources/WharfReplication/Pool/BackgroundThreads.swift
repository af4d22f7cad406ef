import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Threads at the lowest CPU priority for replication: its workers run on them (as a task executor), and so does its
/// HTTP clients' I/O. When clients' requests keep the cores busy, copies wait for idle time instead of taking a share;
/// on an idle machine they run at full speed. (Linux keeps a nice value per thread.)
final class BackgroundThreads: TaskExecutor {
    static let shared = BackgroundThreads(count: System.coreCount)

    let group: MultiThreadedEventLoopGroup

    private init(count: Int) {
        group = MultiThreadedEventLoopGroup(numberOfThreads: count)
        #if canImport(Glibc)
            for loop in group.makeIterator() {
                // On Linux, `who` 0 with PRIO_PROCESS is the calling thread.
                try? loop.submit { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19) }.wait()
            }
        #endif
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        // A job enqueued from one of these threads (an HTTP response resuming its worker) stays on it: no wake-up of
        // another thread for it.
        let loop = MultiThreadedEventLoopGroup.currentEventLoop.flatMap { current in
            group.makeIterator().contains { $0 === current } ? current : nil
        }
        (loop ?? group.next()).execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
