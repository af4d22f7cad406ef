import Crypto
import Dispatch
import Foundation
import Logging
import Synchronization

/// Checks credentials against Wharf's identity store and an optional htpasswd file, both reread when they
/// change (the store at most once a second), so that `wharf users …` and edits to the file take effect live, on
/// every instance of a cluster.
public final class Authenticator: Sendable {
    private struct Snapshot {
        var users: [String: IdentityStore.User] = [:]
        var robots: [String: IdentityStore.Robot] = [:]
        var htpasswd: [String: String] = [:]
        var htpasswdModified: Date?
        var loaded: ContinuousClock.Instant?
        /// Credentials already checked with bcrypt, by a hash of name and password, with the hash they matched.
        var verified: [SHA256Digest: String] = [:]
    }

    private let store: IdentityStore
    private let htpasswdPath: String?
    /// Group memberships from the configuration, which is where htpasswd users get theirs.
    private let configuredGroups: [String: Set<String>]
    private let logger: Logger
    private let state = Mutex(Snapshot())

    public init(store: IdentityStore, htpasswdPath: String?, groups: [String: [String]], logger: Logger) async {
        self.store = store
        self.htpasswdPath = htpasswdPath
        self.logger = logger
        var byMember = [String: Set<String>]()
        for (group, members) in groups { for member in members { byMember[member, default: []].insert(group) } }
        configuredGroups = byMember
        _ = await current()  // the first load, before any request
    }

    /// The identity these credentials prove, or nil. Robots log in as `robot$<name>`.
    public func authenticate(name: String, secret: String) async -> Identity? {
        let snapshot = await current()
        if name.hasPrefix(Identity.robotPrefix) {
            let robotName = String(name.dropFirst(Identity.robotPrefix.count))
            guard let robot = snapshot.robots[robotName], robot.isActive(at: IdentityStore.now()),
                constantTimeEqual(Array(IdentityStore.secretHash(secret).utf8), Array(robot.secretHash.utf8))
            else { return nil }
            return identity(robot)
        }
        guard let hash = snapshot.users[name]?.passwordHash ?? snapshot.htpasswd[name] else {
            // Spend the time a real check takes, so that timing does not tell which names exist.
            _ = await Self.offPool { PasswordHash.verify(secret, against: Self.decoyHash) }
            return nil
        }
        let key = SHA256.hash(data: Array("\(name)\0\(secret)".utf8))
        if snapshot.verified[key] != hash {
            guard await Self.offPool({ PasswordHash.verify(secret, against: hash) }) else { return nil }
            state.withLock { state in
                if state.verified.count >= 10_000 { state.verified.removeAll() }
                state.verified[key] = hash
            }
        }
        return userIdentity(name, snapshot)
    }

    /// The identity a token names, if it still exists and is allowed in (a robot disabled since is not).
    public func current(name: String, kind: Identity.Kind) async -> Identity? {
        let snapshot = await current()
        switch kind {
        case .anonymous:
            return .anonymous
        case .robot:
            let robotName = String(name.dropFirst(Identity.robotPrefix.count))
            guard let robot = snapshot.robots[robotName], robot.isActive(at: IdentityStore.now()) else { return nil }
            return identity(robot)
        case .user:
            guard snapshot.users[name] != nil || snapshot.htpasswd[name] != nil else { return nil }
            return userIdentity(name, snapshot)
        }
    }

    private func userIdentity(_ name: String, _ snapshot: Snapshot) -> Identity {
        let stored = snapshot.users[name]?.groups.split(separator: ",").map(String.init) ?? []
        return Identity(name: name, kind: .user, groups: Set(stored).union(configuredGroups[name] ?? []))
    }

    private func identity(_ robot: IdentityStore.Robot) -> Identity {
        let name = Identity.robotPrefix + robot.name
        return Identity(
            name: name, kind: .robot,
            groups: Set(robot.groups.split(separator: ",").map(String.init)).union(configuredGroups[name] ?? []))
    }

    /// The snapshot. Once a second one caller rereads the store (and the htpasswd file, when it changed) while
    /// the others go on with the one before.
    private func current() async -> Snapshot {
        let now = ContinuousClock.now
        let (snapshot, due) = state.withLock { state in
            let due = state.loaded.map { now - $0 >= .seconds(1) } ?? true
            if due { state.loaded = now }
            return (state, due)
        }
        return due ? await reload(snapshot) : snapshot
    }

    private func reload(_ previous: Snapshot) async -> Snapshot {
        var users = previous.users
        var robots = previous.robots
        do {
            users = Dictionary(uniqueKeysWithValues: try await store.users().map { ($0.name, $0) })
            robots = Dictionary(uniqueKeysWithValues: try await store.robots().map { ($0.name, $0) })
        } catch {
            logger.error("cannot read the identity store", metadata: ["error": "\(error)"])
        }
        var htpasswd = previous.htpasswd
        let modified = htpasswdPath.flatMap {
            try? FileManager.default.attributesOfItem(atPath: $0)[.modificationDate] as? Date
        }
        if let path = htpasswdPath, modified != previous.htpasswdModified {
            let file = Htpasswd((try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
            if !file.rejected.isEmpty {
                logger.warning("htpasswd entries that are not bcrypt are ignored", metadata: ["users": "\(file.rejected)"])
            }
            htpasswd = file.hashes
        }
        return state.withLock { state in
            state.users = users
            state.robots = robots
            state.htpasswd = htpasswd
            state.htpasswdModified = modified
            return state
        }
    }

    /// A bcrypt hash of nothing anyone knows, to check unknown names against.
    private static let decoyHash = (try? PasswordHash.bcrypt(UUID().uuidString)) ?? ""

    /// bcrypt takes tens of milliseconds: run it on a dispatch queue, not on the cooperative pool.
    private static func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: work()) }
        }
    }
}
