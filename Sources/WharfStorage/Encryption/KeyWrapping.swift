/// Which master key wraps a stored data key, as key rotation and `keys status` find it.
package enum WrappingKey: Sendable, Equatable {
    case key(String)
    /// Stored in plain text (before encryption was on).
    case plain
    /// No key opens its header: damaged (fsck tells more).
    case unreadable
    case absent

    /// What `header` says, for data bound to `binding`.
    init(_ header: BlobHeader?, _ binding: KeyBinding, _ encryption: BlobEncryption) {
        guard let header else {
            self = .unreadable
            return
        }
        if let (_, keyID) = try? header.dataKey(binding: binding, keys: encryption) {
            self = .key(keyID)
        } else if let newest = header.newestKeyID, encryption.key(newest) == nil {
            // A key this process does not hold still counts, so that it is not retired while in use.
            self = .key(newest)
        } else {
            self = .unreadable
        }
    }
}

/// What re-wrapping a stored data key with the active master key did.
package enum RewrapOutcome: Sendable {
    case rewrapped
    /// The active key wraps it already.
    case current
    /// Gone, or in plain text: nothing to re-wrap.
    case absent
}

extension BlobHeader {
    /// Wraps the data key this header holds for `binding` with the active master key, into its older slot; nil when
    /// the active key wraps it already. Answers the slot written.
    mutating func rewrap(_ binding: KeyBinding, _ encryption: BlobEncryption) throws -> Int? {
        let (dataKey, keyID) = try dataKey(binding: binding, keys: encryption)
        let active = encryption.active
        guard keyID != active.id else { return nil }
        return try wrap(dataKey, binding: binding, master: active)
    }
}
