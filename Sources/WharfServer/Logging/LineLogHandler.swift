import Foundation
import Logging

/// One line per event on standard error: as swift-log's `StreamLogHandler` writes it (`text`), or one JSON object
/// with time, level, label, message and metadata (`json`). Metadata is formatted only when a line is written:
/// `StreamLogHandler` re-renders its metadata whenever a key is set, and Hummingbird sets a request id on every
/// request, logged or not.
public struct LineLogHandler: LogHandler {
    public enum Format: Sendable { case text, json }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String
    private let format: Format

    public init(label: String, format: Format) {
        self.label = label
        self.format = format
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 })
        let line: Data?
        switch format {
        case .text:
            let fields = merged.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
            line = Data("\(Self.timestamp()) \(event.level) \(label):\(fields) [\(event.source)] \(event.message)\n".utf8)
        case .json:
            var object: [String: String] = [
                "time": ISO8601DateFormatter.withFractionalSeconds.string(from: Date()),
                "level": event.level.rawValue, "label": label, "message": event.message.description,
            ]
            for (key, value) in merged { object[key] = value.description }
            line = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])).map { $0 + [0x0a] }
        }
        if let line { FileHandle.standardError.write(line) }
    }

    private static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension ISO8601DateFormatter {
    nonisolated(unsafe) static let withFractionalSeconds: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()
}
