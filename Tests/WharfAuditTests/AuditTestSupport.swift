import Foundation
import Logging
import Testing

@testable import WharfAudit

/// A fresh directory for one test's log, removed afterwards.
func withAuditDirectory(_ test: (String) async throws -> Void) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wharf-audit-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try await test(directory)
}

func openLog(_ directory: String, adjust: (inout AuditSettings) -> Void = { _ in }) throws -> AuditLog {
    var settings = AuditSettings(directory: directory)
    adjust(&settings)
    var logger = Logger(label: "audit-test")
    logger.logLevel = .critical
    return try AuditLog(settings: settings, logger: logger)
}

/// A recent time (segments are sealed once their first record is a day old).
let baseTime = AuditTime.nowMillis() - 3_600_000

/// A request event; `n` makes its fields differ from its neighbours'.
func event(_ n: Int, time: Int64 = baseTime, action: String = "pull-blob") -> AuditEvent {
    AuditEvent(
        timeMillis: time + Int64(n), id: "request-\(n)", actor: "user-\(n % 7)", actorKind: "user", auth: "basic",
        client: "10.0.0.\(n % 250)", userAgent: "test \"agent\"\n", method: "GET", path: "/v2/repo-\(n % 13)/blobs/x",
        action: action, repository: "repo-\(n % 13)", digest: "sha256:" + String(repeating: "a", count: 64),
        status: [200, 404, 500][n % 3], bytesOut: Int64(n), durationMicros: 1234)
}

/// Writes events durably, `batch` at a time, and closes the log.
func writeRecords(_ directory: String, _ events: [AuditEvent], batch: Int = 500, adjust: (inout AuditSettings) -> Void = { _ in })
    async throws
{
    let log = try openLog(directory, adjust: adjust)
    for start in stride(from: 0, to: events.count, by: batch) {
        let slice = events[start..<min(start + batch, events.count)]
        for event in slice.dropLast() { log.record(event) }
        try await log.recordDurably(slice.last!)
    }
    log.close()
}

func segmentLines(_ directory: String, _ number: Int = 1) throws -> [String] {
    let text = try String(contentsOfFile: AuditSegments(directory: directory).path(number), encoding: .utf8)
    return text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
}

func writeSegment(_ directory: String, _ lines: [String], number: Int = 1) throws {
    try lines.joined(separator: "\n").write(
        toFile: AuditSegments(directory: directory).path(number), atomically: false, encoding: .utf8)
}

func decode(_ line: [UInt8]) throws -> AuditRecord { try JSONDecoder().decode(AuditRecord.self, from: Data(line)) }
