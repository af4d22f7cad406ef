/// Where the token signing keys are kept: every key verifies, and the active one signs.
public protocol SigningKeyStore: Sendable {
    /// Where, for messages.
    var location: String { get }
    /// All keys and the active one's id; nil when there is none yet.
    func load() async throws -> (keys: [SigningKeys.Key], active: String)?
    /// Makes a first key, active, unless there is one: instances starting together make one between them.
    func ensureKey(_ algorithm: SigningKeys.Algorithm) async throws -> String?
    /// Adds a new key and makes it the active one; returns its id.
    @discardableResult func addActiveKey(_ algorithm: SigningKeys.Algorithm) async throws -> String
    /// Removes a key that no longer signs; tokens it signed stop verifying.
    func retire(_ id: String) async throws
}
