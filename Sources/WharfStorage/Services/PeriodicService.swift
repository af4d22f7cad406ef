import Logging
import ServiceLifecycle

/// Runs `work` every `interval` until graceful shutdown; a failed run is logged and the next one comes anyway.
/// Upload purging and garbage collection run as these.
package struct PeriodicService: Service {
    let name: String
    let interval: Duration
    let logger: Logger
    let work: @Sendable () async throws -> Void

    package init(name: String, interval: Duration, logger: Logger, work: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.interval = interval
        self.logger = logger
        self.work = work
    }

    package func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: interval)
                    try await work()
                } catch is CancellationError {
                    return
                } catch {
                    logger.error("\(name) failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
