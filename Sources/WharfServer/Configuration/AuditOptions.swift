import Foundation
import WharfAudit

/// The audit log's part of the configuration:
///
///     audit:
///       enabled: true                      # on by default, the embedded default too
///       dir: /var/lib/wharf/audit          # default <dataDir>/audit
///       trustedProxies: ["10.0.0.0/8"]     # whose X-Forwarded-For is believed
///       flushInterval: 100ms               # the most a read's record waits before it is fsynced
///       segmentBytes: 67108864
///       retention: { maxAge: 365d, maxBytes: 10737418240 }   # "off" for either keeps everything
///       forward: { file: /var/log/wharf-audit.jsonl, syslog: "udp://127.0.0.1:514" }
///       instance: wharf-0                  # on a cluster, the id of this instance's chain (default: made on first
///                                          # start and kept in <dir>/instance)
///
/// On a cluster (`metadata.driver: postgres`) the records go to PostgreSQL instead of `dir`; segmentBytes and
/// maxBytes then do not apply.
public struct AuditOptions: Sendable, Equatable {
    public var enabled = true
    public var directory: String?
    public var trustedProxies: [String] = []
    public var flushInterval: Duration = .milliseconds(100)
    public var segmentBytes: Int64 = 64 << 20
    public var retentionAge: Duration? = .seconds(365 * 86400)
    public var retentionBytes: Int64? = 10 << 30
    public var forwardFile: String?
    public var forwardSyslog: String?
    public var instance: String?

    public init() {}

    struct File: Decodable {
        struct Retention: Decodable {
            var maxAge: String?
            var maxBytes: String?
        }
        struct Forward: Decodable {
            var file: String?
            var syslog: String?
        }
        var enabled: Bool?
        var dir: String?
        var trustedProxies: [String]?
        var flushInterval: String?
        var segmentBytes: Int64?
        var retention: Retention?
        var forward: Forward?
        var instance: String?
    }

    mutating func apply(_ file: File) throws {
        if let enabled = file.enabled { self.enabled = enabled }
        if let dir = file.dir { directory = dir }
        if let proxies = file.trustedProxies { trustedProxies = proxies }
        if let interval = file.flushInterval { flushInterval = try WharfConfiguration.duration(interval, "audit.flushInterval") }
        if let bytes = file.segmentBytes { segmentBytes = bytes }
        if let age = file.retention?.maxAge {
            retentionAge = try Self.optional(age) { try WharfConfiguration.duration($0, "audit.retention.maxAge") }
        }
        if let bytes = file.retention?.maxBytes {
            retentionBytes = try Self.optional(bytes) { try Self.bytes($0, "audit.retention.maxBytes") }
        }
        if let path = file.forward?.file { forwardFile = path }
        if let target = file.forward?.syslog { forwardSyslog = target }
        if let instance = file.instance { self.instance = instance }
    }

    /// `WHARF_AUDIT` (on/off), `WHARF_AUDIT_DIR`, `WHARF_AUDIT_TRUSTED_PROXIES` (comma-separated),
    /// `WHARF_AUDIT_FLUSH_INTERVAL`, `WHARF_AUDIT_SEGMENT_BYTES`, `WHARF_AUDIT_RETENTION_AGE`,
    /// `WHARF_AUDIT_RETENTION_BYTES`, `WHARF_AUDIT_FORWARD_FILE`, `WHARF_AUDIT_FORWARD_SYSLOG`, `WHARF_AUDIT_INSTANCE`.
    mutating func apply(environment: [String: String]) throws {
        if let value = environment["WHARF_AUDIT"] { enabled = try WharfConfiguration.onOff(value, "WHARF_AUDIT") }
        if let dir = environment["WHARF_AUDIT_DIR"] { directory = dir }
        if let proxies = environment["WHARF_AUDIT_TRUSTED_PROXIES"] {
            trustedProxies = proxies.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        if let interval = environment["WHARF_AUDIT_FLUSH_INTERVAL"] {
            flushInterval = try WharfConfiguration.duration(interval, "WHARF_AUDIT_FLUSH_INTERVAL")
        }
        if let bytes = environment["WHARF_AUDIT_SEGMENT_BYTES"] {
            segmentBytes = try Self.bytes(bytes, "WHARF_AUDIT_SEGMENT_BYTES")
        }
        if let age = environment["WHARF_AUDIT_RETENTION_AGE"] {
            retentionAge = try Self.optional(age) { try WharfConfiguration.duration($0, "WHARF_AUDIT_RETENTION_AGE") }
        }
        if let bytes = environment["WHARF_AUDIT_RETENTION_BYTES"] {
            retentionBytes = try Self.optional(bytes) { try Self.bytes($0, "WHARF_AUDIT_RETENTION_BYTES") }
        }
        if let path = environment["WHARF_AUDIT_FORWARD_FILE"] { forwardFile = path }
        if let target = environment["WHARF_AUDIT_FORWARD_SYSLOG"] { forwardSyslog = target }
        if let instance = environment["WHARF_AUDIT_INSTANCE"] { self.instance = instance }
    }

    func validate() throws {
        _ = try TrustedProxies(trustedProxies)
        guard segmentBytes >= 4096 else {
            throw WharfConfiguration.Invalid(description: "audit.segmentBytes must be at least 4096")
        }
        if let target = forwardSyslog, !target.hasPrefix("udp://"), !target.hasPrefix("unix://") {
            throw WharfConfiguration.Invalid(description: "audit.forward.syslog must be udp://HOST:PORT or unix:///PATH")
        }
        if let instance, instance.isEmpty || instance.count > 128 || !instance.allSatisfy(AuditTable.isInstanceCharacter) {
            throw WharfConfiguration.Invalid(description: "audit.instance must be 1-128 letters, digits, '.', '_' or '-'")
        }
    }

    func settings(directory: String) -> AuditSettings {
        var settings = AuditSettings(directory: directory)
        settings.flushInterval = flushInterval
        settings.segmentBytes = segmentBytes
        settings.retentionAge = retentionAge
        settings.retentionBytes = retentionBytes
        settings.forwardFile = forwardFile
        settings.forwardSyslog = forwardSyslog
        return settings
    }

    private static func optional<T>(_ text: String, _ parse: (String) throws -> T) throws -> T? {
        ["off", "none", "0"].contains(text.lowercased()) ? nil : try parse(text)
    }

    private static func bytes(_ text: String, _ field: String) throws -> Int64 {
        guard let value = Int64(text), value > 0 else {
            throw WharfConfiguration.Invalid(description: "\(field): '\(text)' is not a number of bytes")
        }
        return value
    }
}
