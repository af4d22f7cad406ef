import Crypto
import Foundation
import WharfCore

#if canImport(Glibc)
    import Glibc
#endif

/// Master keys as files in one directory: `<id>.key` holds 32 random bytes (mode 0600), and `active` names the
/// key that wraps new data keys.
package struct KeyringDirectory: MasterKeyProvider {
    package let path: String

    package init(path: String) { self.path = path }

    package var description: String { "key directory \(path)" }

    package func load() throws -> MasterKeys? {
        let files = FileSystem.list(path).filter { $0.hasSuffix(".key") }.sorted()
        guard !files.isEmpty else { return nil }
        var keys = [MasterKey]()
        for file in files {
            let key = try readKey("\(path)/\(file)")
            guard file == "\(key.id).key" else {
                throw KeyError("\(path)/\(file) holds key \(key.id); key files are named <id>.key")
            }
            keys.append(key)
        }
        guard
            let activeID = try? String(contentsOfFile: "\(path)/active", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines),
            let active = keys.first(where: { $0.id == activeID })
        else {
            throw KeyError("\(path)/active does not name one of the key files in \(path)")
        }
        return MasterKeys(active: active, others: keys)
    }

    package func addActiveKey() throws -> MasterKey {
        let key = try Self.generate(into: path)
        try Self.activate(key.id, in: path)
        return key
    }

    /// Makes the key `id` of `directory` the active one.
    package static func activate(_ id: String, in directory: String) throws {
        try writeDurably(Array("\(id)\n".utf8), to: "\(directory)/active", mode: 0o600)
    }

    package func retire(_ id: String) throws {
        guard FileSystem.size("\(path)/\(id).key") != nil else {
            throw KeyError("no key \(id) in \(path)")
        }
        FileSystem.remove("\(path)/\(id).key")
        try FileSystem.syncDirectory(path)
    }

    /// Writes a new key file `<id>.key` into `directory` (created 0700 if needed) and returns the key.
    package static func generate(into directory: String) throws -> MasterKey {
        try FileSystem.makeDirectory(directory, mode: 0o700)
        let key = MasterKey.generate()
        try key.key.withUnsafeBytes { raw in
            try writeDurably(Array(raw), to: "\(directory)/\(key.id).key", mode: 0o600)
        }
        return key
    }

    private func readKey(_ file: String) throws -> MasterKey {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw KeyError("cannot read key file \(file)")
        }
        return try MasterKey(bytes: Array(data))
    }
}

/// Writes a small file atomically (temp file, fsync, rename, directory fsync).
package func writeDurably(_ bytes: [UInt8], to path: String, mode: mode_t) throws {
    let temp = path + ".new"
    let file = try FileDescriptor.open(temp, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: mode)
    defer { file.close() }
    try bytes.withUnsafeBytes { raw in try file.write(raw, at: 0) }
    try file.sync()
    try FileSystem.durableRename(temp, path)
}
