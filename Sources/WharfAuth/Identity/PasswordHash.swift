import CCrypt
import Crypto
import Foundation

/// bcrypt password hashes through the system's libxcrypt, the same `$2y$`/`$2b$` hashes `htpasswd -B` writes.
public enum PasswordHash {
    public static let cost = 10

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public static func bcrypt(_ password: String, cost: Int = cost) throws -> String {
        var setting = [CChar](repeating: 0, count: 64)
        guard crypt_gensalt_rn("$2b$", UInt(cost), nil, 0, &setting, Int32(setting.count)) != nil else {
            throw Failure(description: "cannot make a bcrypt salt (errno \(errno))")
        }
        let salt = String(decoding: setting.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let hash = crypt(password, salt), hash.hasPrefix("$2") else {
            throw Failure(description: "bcrypt failed")
        }
        return hash
    }

    /// True when `password` matches `hash`. The comparison takes the same time wherever the two differ.
    public static func verify(_ password: String, against hash: String) -> Bool {
        guard isBcrypt(hash), let computed = crypt(password, hash) else { return false }
        return constantTimeEqual(Array(computed.utf8), Array(hash.utf8))
    }

    /// htpasswd entries other than bcrypt (MD5-crypt, SHA-1, crypt) are too weak to accept.
    public static func isBcrypt(_ hash: String) -> Bool {
        ["$2a$", "$2b$", "$2y$"].contains(String(hash.prefix(4)))
    }

    /// `crypt_r` with its state on the heap (it is 32 KiB), so that concurrent logins do not share it.
    private static func crypt(_ phrase: String, _ setting: String) -> String? {
        let data = UnsafeMutablePointer<crypt_data>.allocate(capacity: 1)
        defer { data.deallocate() }
        memset(data, 0, MemoryLayout<crypt_data>.size)
        guard let result = crypt_r(phrase, setting, data) else { return nil }
        let text = String(cString: result)
        // libxcrypt answers a failure with a string starting with `*`.
        return text.hasPrefix("*") ? nil : text
    }
}

/// Equality of two byte strings in time that depends only on their lengths.
public func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var difference = UInt8(a.count == b.count ? 0 : 1)
    for index in 0..<min(a.count, b.count) { difference |= a[index] ^ b[index] }
    return difference == 0
}
