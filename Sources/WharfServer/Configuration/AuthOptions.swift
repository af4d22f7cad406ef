import Foundation
import WharfAuth

/// Access control's part of the configuration (off unless enabled):
///
///     auth:
///       enabled: true
///       dir: /var/lib/wharf/auth          # identities.db and token-keys/ (on PostgreSQL, its tables); default <dataDir>/auth
///       htpasswd: /etc/wharf/htpasswd     # bcrypt entries, beside Wharf's own users
///       groups: { team-a: [alice, "robot$ci"] }
///       anonymousPull: ["public/**"]
///       policies:
///         - { repositories: ["team-a/**"], role: push, users: [alice], robots: [ci], groups: [team-a] }
///         - { repositories: ["**"], role: admin, users: [root] }
///       token:                            # Docker token auth; `enabled: false` challenges for Basic instead
///         enabled: true
///         realm: https://registry.example.com/auth/token   # default: from the request's Host
///         service: wharf
///         issuer: wharf
///         lifetime: 5m
///         refreshLifetime: 30d
///         algorithm: ES256                # or RS256, for a newly created key
///       loginFailures: { limit: 10, window: 1m }
public struct AuthOptions: Sendable, Equatable {
    public var enabled = false
    public var directory: String?
    public var htpasswd: String?
    public var groups: [String: [String]] = [:]
    public var anonymousPull: [String] = []
    public var policies: [Policy] = []
    public var tokenEnabled = true
    public var realm: String?
    public var service = "wharf"
    public var issuer = "wharf"
    public var tokenLifetime: Duration = .seconds(300)
    public var refreshLifetime: Duration = .seconds(30 * 86400)
    public var algorithm = SigningKeys.Algorithm.es256
    public var failureLimit = 10
    public var failureWindow: Duration = .seconds(60)

    public struct Policy: Sendable, Equatable, Decodable {
        public var repositories: [String]
        public var role: String
        public var users: [String]?
        public var robots: [String]?
        public var groups: [String]?
    }

    public init() {}

    struct File: Decodable {
        struct Token: Decodable {
            var enabled: Bool?
            var realm: String?
            var service: String?
            var issuer: String?
            var lifetime: String?
            var refreshLifetime: String?
            var algorithm: String?
        }
        struct LoginFailures: Decodable {
            var limit: Int?
            var window: String?
        }
        var enabled: Bool?
        var dir: String?
        var htpasswd: String?
        var groups: [String: [String]]?
        var anonymousPull: [String]?
        var policies: [Policy]?
        var token: Token?
        var loginFailures: LoginFailures?
    }

    mutating func apply(_ file: File) throws {
        if let enabled = file.enabled { self.enabled = enabled }
        if let dir = file.dir { directory = dir }
        if let path = file.htpasswd { htpasswd = path }
        if let groups = file.groups { self.groups = groups }
        if let patterns = file.anonymousPull { anonymousPull = patterns }
        if let policies = file.policies { self.policies = policies }
        if let token = file.token {
            if let enabled = token.enabled { tokenEnabled = enabled }
            if let realm = token.realm { self.realm = realm }
            if let service = token.service { self.service = service }
            if let issuer = token.issuer { self.issuer = issuer }
            if let text = token.lifetime { tokenLifetime = try WharfConfiguration.duration(text, "auth.token.lifetime") }
            if let text = token.refreshLifetime {
                refreshLifetime = try WharfConfiguration.duration(text, "auth.token.refreshLifetime")
            }
            if let text = token.algorithm { algorithm = try Self.algorithm(text, "auth.token.algorithm") }
        }
        if let limit = file.loginFailures?.limit { failureLimit = limit }
        if let text = file.loginFailures?.window {
            failureWindow = try WharfConfiguration.duration(text, "auth.loginFailures.window")
        }
    }

    /// `WHARF_AUTH` (on/off), `WHARF_AUTH_DIR`, `WHARF_AUTH_HTPASSWD`, `WHARF_AUTH_ANONYMOUS_PULL` (comma-separated
    /// patterns), `WHARF_AUTH_TOKEN` (on/off), `WHARF_AUTH_REALM`, `WHARF_AUTH_TOKEN_LIFETIME`.
    mutating func apply(environment: [String: String]) throws {
        if let value = environment["WHARF_AUTH"] { enabled = try WharfConfiguration.onOff(value, "WHARF_AUTH") }
        if let dir = environment["WHARF_AUTH_DIR"] { directory = dir }
        if let path = environment["WHARF_AUTH_HTPASSWD"] { htpasswd = path }
        if let patterns = environment["WHARF_AUTH_ANONYMOUS_PULL"] {
            anonymousPull = patterns.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        if let value = environment["WHARF_AUTH_TOKEN"] { tokenEnabled = try WharfConfiguration.onOff(value, "WHARF_AUTH_TOKEN") }
        if let realm = environment["WHARF_AUTH_REALM"] { self.realm = realm }
        if let text = environment["WHARF_AUTH_TOKEN_LIFETIME"] {
            tokenLifetime = try WharfConfiguration.duration(text, "WHARF_AUTH_TOKEN_LIFETIME")
        }
    }

    func validate() throws {
        _ = try accessPolicy()
        guard failureLimit > 0 else { throw WharfConfiguration.Invalid(description: "auth.loginFailures.limit must be positive") }
    }

    func accessPolicy() throws -> AccessPolicy {
        let rules = try policies.enumerated().map { index, policy in
            guard let role = Role(rawValue: policy.role) else {
                throw WharfConfiguration.Invalid(
                    description: "auth.policies[\(index)].role '\(policy.role)' is not one of pull, push, delete, admin")
            }
            return AccessPolicy.Rule(
                repositories: policy.repositories, role: role, users: policy.users ?? [], robots: policy.robots ?? [],
                groups: policy.groups ?? [])
        }
        return AccessPolicy(rules: rules, anonymousPull: anonymousPull)
    }

    var tokenSettings: TokenService.Settings {
        var settings = TokenService.Settings()
        settings.issuer = issuer
        settings.service = service
        settings.lifetime = tokenLifetime
        settings.refreshLifetime = refreshLifetime
        settings.algorithm = algorithm
        return settings
    }

    public static func algorithm(_ text: String, _ field: String) throws -> SigningKeys.Algorithm {
        guard let algorithm = SigningKeys.Algorithm(rawValue: text.uppercased()) else {
            throw WharfConfiguration.Invalid(description: "\(field): use ES256 or RS256")
        }
        return algorithm
    }
}
