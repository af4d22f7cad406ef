import Foundation
import Synchronization

/// The host's CPU utilisation, load1 and run queue, from `/proc`; load and run queue per core. `overrideFile` (set
/// by `WHARF_POOL_SIGNALS_FILE`) is a JSON object whose `cpu`, `load1PerCore` and `runQueuePerCore` replace what
/// `/proc` says: how the tests inject a busy host, and how an operator can pin a signal.
final class ResourceSampler: Sendable {
    private let previous = Mutex<(busy: UInt64, total: UInt64)?>(nil)
    let overrideFile: String?
    let cores = Double(Swift.max(ProcessInfo.processInfo.activeProcessorCount, 1))

    init(overrideFile: String? = ProcessInfo.processInfo.environment["WHARF_POOL_SIGNALS_FILE"]) {
        self.overrideFile = overrideFile
    }

    func sample() -> (cpu: Double, load1PerCore: Double, runQueuePerCore: Double) {
        var cpu = cpuUtilisation()
        var load = 0.0
        var runQueue = 0.0
        // `/proc/loadavg`: `0.52 0.58 0.59 2/1234 5678`; the fourth field's first half is the runnable count.
        if let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) {
            let fields = text.split(separator: " ")
            if fields.count >= 4 {
                load = (Double(fields[0]) ?? 0) / cores
                runQueue = (Double(fields[3].split(separator: "/").first ?? "0") ?? 0) / cores
            }
        }
        if let overrideFile, let data = FileManager.default.contents(atPath: overrideFile),
            let values = try? JSONSerialization.jsonObject(with: data) as? [String: Double]
        {
            cpu = values["cpu"] ?? cpu
            load = values["load1PerCore"] ?? load
            runQueue = values["runQueuePerCore"] ?? runQueue
        }
        return (cpu, load, runQueue)
    }

    /// The share of CPU time busy since the previous sample (`/proc/stat`'s first line).
    private func cpuUtilisation() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first
        else { return 0 }
        let values = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
        guard values.count >= 5 else { return 0 }
        let idle = values[3] + values[4]  // idle + iowait
        let total = values.reduce(0, +)
        let busy = total - idle
        return previous.withLock { last in
            defer { last = (busy, total) }
            guard let last, total > last.total else { return 0 }
            return Double(busy - last.busy) / Double(total - last.total)
        }
    }
}
