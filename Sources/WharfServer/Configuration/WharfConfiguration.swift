import Foundation
import WharfAuth
import WharfStorage
import Yams

/// Everything `wharf serve` can be told. Sources, later ones winning: built-in defaults, the YAML file,
/// `WHARF_…` environment variables, command-line flags.
public struct WharfConfiguration: Sendable, Equatable {
    /// `HOST:PORT` addresses to listen on (plain HTTP).
    public var listen: [String] = ["0.0.0.0:5000"]
    public var dataDirectory: String = "./storage"
    public var logLevel: String = "info"
    /// `text` or `json`.
    public var logFormat: String = "text"
    public var maxManifestBytes: Int = 4 << 20
    /// 0 for no limit.
    public var maxBlobBytes: Int64 = 0
    /// Upload sessions untouched this long are purged.
    public var uploadTTL: Duration = .seconds(24 * 3600)
    public var uploadPurgeInterval: Duration = .seconds(600)
    /// How often garbage collection runs in the background.
    public var gcInterval: Duration = .seconds(3600)
    /// Blobs stored, linked or used by a client more recently than this are never collected.
    public var gcGrace: Duration = .seconds(3600)
    /// At-rest encryption of every file written (on by default).
    public var encryptionEnabled = true
    /// Directory of master key files; nil for `<dataDirectory>/keys`, where a first key is created if none exists.
    public var encryptionKeyDirectory: String?
    /// Master keys given in the environment (`WHARF_ENCRYPTION_KEY`, `WHARF_ENCRYPTION_PREVIOUS_KEYS`), which
    /// take the place of the key directory.
    var environmentKeys: [String: String] = [:]
    /// The audit log (on by default).
    public var audit = AuditOptions()
    /// Access control (off by default).
    public var auth = AuthOptions()
    /// Replication rules (none by default).
    public var replication = ReplicationOptions()
    /// Where blobs are kept: the data directory, or an S3 bucket.
    public var storage = StorageOptions()
    /// Where metadata is recorded: the data directory's SQLite file, or PostgreSQL.
    public var metadata = MetadataOptions()
    /// Repositories whose pushed tags P2P seeders fetch at once (`p2p.preheat`, globs; none by default).
    public var p2pPreheat: [String] = []
    /// The web console (`ui.enabled`, `ui.path`): on by default, at `/ui`.
    public var consoleEnabled = true
    public var consolePath = "/ui"
    /// Tag and digest resolutions kept in memory (`cache.references`), on SQLite; 0 turns the cache off.
    public var cachedReferences = 100_000
    /// `HOST:PORT` addresses to listen on with TLS, given a certificate and its key (PEM files).
    public var tlsListen: [String] = []
    public var tlsCertificate: String?
    public var tlsKey: String?

    public init() {}

    /// The YAML file layout:
    ///
    ///     listen: ["0.0.0.0:5000"]
    ///     dataDir: ./storage
    ///     log: { level: info, format: text }
    ///     limits: { manifestBytes: 4194304, blobBytes: 0 }
    ///     uploads: { ttl: 24h, purgeInterval: 10m }
    ///     gc: { interval: 1h, grace: 1h }
    ///     encryption: { enabled: true, keyDir: /etc/wharf/keys }
    ///     audit: { enabled: true, ... }        (see AuditOptions)
    ///     auth: { enabled: true, ... }         (see AuthOptions)
    ///     tls: { listen: ["0.0.0.0:5443"], certificate: server.pem, key: server-key.pem }
    ///     storage: { driver: s3, s3: {...} }   (see StorageOptions)
    ///     metadata: { driver: postgres, postgres: {...} }   (see MetadataOptions)
    ///     replication: { rules: [...] }        (see ReplicationOptions)
    ///     p2p: { preheat: ["team/**"] }        (tags pushed there are preheated on the seeder agents)
    struct File: Decodable {
        struct Log: Decodable {
            var level: String?
            var format: String?
        }
        struct Limits: Decodable {
            var manifestBytes: Int?
            var blobBytes: Int64?
        }
        struct Uploads: Decodable {
            var ttl: String?
            var purgeInterval: String?
        }
        struct GC: Decodable {
            var interval: String?
            var grace: String?
        }
        struct Encryption: Decodable {
            var enabled: Bool?
            var keyDir: String?
        }
        struct P2P: Decodable {
            var preheat: [String]?
        }
        struct Cache: Decodable {
            var references: Int?
        }
        struct UI: Decodable {
            var enabled: Bool?
            var path: String?
        }
        struct TLS: Decodable {
            var listen: [String]?
            var certificate: String?
            var key: String?
        }
        var listen: [String]?
        var tls: TLS?
        var auth: AuthOptions.File?
        var replication: ReplicationOptions.File?
        var p2p: P2P?
        var ui: UI?
        var cache: Cache?
        var dataDir: String?
        var storage: StorageOptions.File?
        var metadata: MetadataOptions.File?
        var encryption: Encryption?
        var audit: AuditOptions.File?
        var log: Log?
        var limits: Limits?
        var uploads: Uploads?
        var gc: GC?
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// Applies a YAML configuration file.
    public mutating func apply(yamlFile path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Invalid(description: "cannot read configuration file \(path)")
        }
        let file: File
        do {
            file = try YAMLDecoder().decode(File.self, from: text)
        } catch {
            throw Invalid(description: "configuration file \(path): \(error)")
        }
        if let listen = file.listen { self.listen = listen }
        if let dataDir = file.dataDir { dataDirectory = dataDir }
        if let storage = file.storage { try self.storage.apply(storage) }
        if let metadata = file.metadata { try self.metadata.apply(metadata) }
        if let level = file.log?.level { logLevel = level }
        if let format = file.log?.format { logFormat = format }
        if let bytes = file.limits?.manifestBytes { maxManifestBytes = bytes }
        if let bytes = file.limits?.blobBytes { maxBlobBytes = bytes }
        if let ttl = file.uploads?.ttl { uploadTTL = try Self.duration(ttl, "uploads.ttl") }
        if let interval = file.uploads?.purgeInterval {
            uploadPurgeInterval = try Self.duration(interval, "uploads.purgeInterval")
        }
        if let interval = file.gc?.interval { gcInterval = try Self.duration(interval, "gc.interval") }
        if let grace = file.gc?.grace { gcGrace = try Self.duration(grace, "gc.grace") }
        if let enabled = file.encryption?.enabled { encryptionEnabled = enabled }
        if let directory = file.encryption?.keyDir { encryptionKeyDirectory = directory }
        if let audit = file.audit { try self.audit.apply(audit) }
        if let auth = file.auth { try self.auth.apply(auth) }
        if let replication = file.replication {
            try self.replication.apply(replication)
        }
        if let preheat = file.p2p?.preheat { p2pPreheat = preheat }
        if let enabled = file.ui?.enabled { consoleEnabled = enabled }
        if let path = file.ui?.path { consolePath = path }
        if let entries = file.cache?.references { cachedReferences = entries }
        if let listen = file.tls?.listen { tlsListen = listen }
        if let path = file.tls?.certificate { tlsCertificate = path }
        if let path = file.tls?.key { tlsKey = path }
        try validate()
    }

    /// Applies `WHARF_LISTEN` (comma-separated), `WHARF_DATA_DIR`, `WHARF_LOG_LEVEL`, `WHARF_LOG_FORMAT`,
    /// `WHARF_MAX_MANIFEST_BYTES`, `WHARF_MAX_BLOB_BYTES`, `WHARF_UPLOAD_TTL`, `WHARF_GC_INTERVAL`, `WHARF_GC_GRACE`,
    /// `WHARF_ENCRYPTION` (on/off), `WHARF_ENCRYPTION_KEY_DIR`, `WHARF_ENCRYPTION_KEY`, `WHARF_ENCRYPTION_PREVIOUS_KEYS`,
    /// `WHARF_TLS_LISTEN` (comma-separated), `WHARF_TLS_CERT`, `WHARF_TLS_KEY`, `WHARF_UI` (on/off), `WHARF_UI_PATH`, `WHARF_CACHE_REFERENCES`, and the audit log's (`AuditOptions`)
    /// and access control's (`AuthOptions`), the blob storage's (`StorageOptions`) and the metadata's (`MetadataOptions`).
    public mutating func apply(environment: [String: String]) throws {
        if let listen = environment["WHARF_LISTEN"] { self.listen = listen.split(separator: ",").map(String.init) }
        if let dir = environment["WHARF_DATA_DIR"] { dataDirectory = dir }
        if let level = environment["WHARF_LOG_LEVEL"] { logLevel = level }
        if let format = environment["WHARF_LOG_FORMAT"] { logFormat = format }
        if let bytes = environment["WHARF_MAX_MANIFEST_BYTES"] {
            guard let value = Int(bytes) else { throw Invalid(description: "WHARF_MAX_MANIFEST_BYTES: not a number") }
            maxManifestBytes = value
        }
        if let bytes = environment["WHARF_MAX_BLOB_BYTES"] {
            guard let value = Int64(bytes) else { throw Invalid(description: "WHARF_MAX_BLOB_BYTES: not a number") }
            maxBlobBytes = value
        }
        if let ttl = environment["WHARF_UPLOAD_TTL"] { uploadTTL = try Self.duration(ttl, "WHARF_UPLOAD_TTL") }
        if let interval = environment["WHARF_GC_INTERVAL"] { gcInterval = try Self.duration(interval, "WHARF_GC_INTERVAL") }
        if let grace = environment["WHARF_GC_GRACE"] { gcGrace = try Self.duration(grace, "WHARF_GC_GRACE") }
        if let enabled = environment["WHARF_ENCRYPTION"] { encryptionEnabled = try Self.onOff(enabled, "WHARF_ENCRYPTION") }
        if let directory = environment["WHARF_ENCRYPTION_KEY_DIR"] { encryptionKeyDirectory = directory }
        environmentKeys = environment.filter {
            [EnvironmentKeys.activeVariable, EnvironmentKeys.previousVariable].contains($0.key)
        }
        try storage.apply(environment: environment)
        try metadata.apply(environment: environment)
        try audit.apply(environment: environment)
        try auth.apply(environment: environment)
        if let listen = environment["WHARF_TLS_LISTEN"] { tlsListen = listen.split(separator: ",").map(String.init) }
        if let path = environment["WHARF_TLS_CERT"] { tlsCertificate = path }
        if let path = environment["WHARF_TLS_KEY"] { tlsKey = path }
        if let enabled = environment["WHARF_UI"] { consoleEnabled = try Self.onOff(enabled, "WHARF_UI") }
        if let path = environment["WHARF_UI_PATH"] { consolePath = path }
        if let entries = environment["WHARF_CACHE_REFERENCES"] {
            guard let value = Int(entries) else { throw Invalid(description: "WHARF_CACHE_REFERENCES: not a number") }
            cachedReferences = value
        }
        try validate()
    }

    /// The audit log's directory.
    public var auditDirectory: String { audit.directory ?? dataDirectory + "/audit" }

    /// Access control's directory: the identity store and the token signing keys.
    public var authDirectory: String { auth.directory ?? dataDirectory + "/auth" }

    /// The directory of master key files in use (also when keys come from the environment instead).
    public var keyDirectory: String { encryptionKeyDirectory ?? dataDirectory + "/keys" }

    public func validate() throws {
        guard !listen.isEmpty || !tlsListen.isEmpty else { throw Invalid(description: "no listen address") }
        for address in listen + tlsListen { _ = try Self.hostAndPort(address) }
        if !tlsListen.isEmpty, tlsCertificate == nil || tlsKey == nil {
            throw Invalid(description: "tls.listen needs tls.certificate and tls.key (PEM files)")
        }
        guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(logLevel) else {
            throw Invalid(
                description: "log level '\(logLevel)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        guard ["text", "json"].contains(logFormat) else { throw Invalid(description: "log format must be text or json") }
        guard maxManifestBytes > 0, maxBlobBytes >= 0 else { throw Invalid(description: "limits must be positive") }
        guard cachedReferences >= 0 else { throw Invalid(description: "cache.references must be 0 or more") }
        // One or more lower-case segments, not under a path the registry itself serves.
        let segments = consolePath.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard consolePath.hasPrefix("/"), !consolePath.hasSuffix("/"), !segments.isEmpty,
            segments.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { (0x61...0x7a).contains($0) || $0 == 0x2d } }),
            !["v2", "api", "p2p", "auth", "helm", "healthz", "readyz", "metrics"].contains(segments.first!)
        else {
            throw Invalid(
                description: "ui.path '\(consolePath)' must be like /ui: lower-case segments, outside the registry's own paths")
        }
        try storage.validate()
        if storage.redirect, encryptionEnabled {
            throw Invalid(
                description: "storage.redirect needs encryption off: an encrypted object is not the blob's bytes, and only "
                    + "Wharf can decrypt it")
        }
        try metadata.validate()
        try audit.validate()
        try auth.validate()
    }

    /// `HOST:PORT`, `[IPv6]:PORT` or `:PORT` (all interfaces).
    static func hostAndPort(_ address: String) throws -> (host: String, port: Int) {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
            (0...65535).contains(port)
        else { throw Invalid(description: "listen address '\(address)' is not HOST:PORT") }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return (host.isEmpty ? "0.0.0.0" : host, port)
    }

    static func onOff(_ text: String, _ field: String) throws -> Bool {
        guard let value = ["on": true, "true": true, "off": false, "false": false][text.lowercased()] else {
            throw Invalid(description: "\(field): use on or off")
        }
        return value
    }

    /// `100ms`, `90s`, `30m`, `24h`, `7d`, or plain seconds.
    public static func duration(_ text: String, _ field: String) throws -> Duration {
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.hasSuffix("ms"), let value = Int64(trimmed.dropLast(2)), value > 0 { return .milliseconds(value) }
        if let last = trimmed.last, let unit = units[last], let value = Int64(trimmed.dropLast()), value > 0 {
            return .seconds(value * unit)
        }
        if let value = Int64(trimmed), value > 0 { return .seconds(value) }
        throw Invalid(description: "\(field): '\(text)' is not a duration such as 90s, 30m, 24h or 7d")
    }
}
