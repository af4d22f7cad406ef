import Foundation

/// An Apache htpasswd file: `name:hash` lines. Only bcrypt entries are accepted, as in CNCF Distribution; the
/// names of others are reported so the operator can rehash them.
public struct Htpasswd: Sendable {
    public let hashes: [String: String]
    public let rejected: [String]

    public init(_ text: String) {
        var hashes = [String: String]()
        var rejected = [String]()
        for line in text.split(whereSeparator: \.isNewline) {
            let entry = line.trimmingCharacters(in: .whitespaces)
            guard !entry.isEmpty, !entry.hasPrefix("#"), let colon = entry.firstIndex(of: ":") else { continue }
            let name = String(entry[..<colon])
            let hash = String(entry[entry.index(after: colon)...])
            if PasswordHash.isBcrypt(hash) { hashes[name] = hash } else { rejected.append(name) }
        }
        self.hashes = hashes
        self.rejected = rejected
    }
}
