import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The log's directory: `segment-<12-digit number>.log` files, numbered from 1 and appended to in turn, and
/// `index.db`, the query index built from them. Every segment but the newest ends with a `segment-sealed`
/// record; the chain runs across segments (a segment's first record chains to the seal of the one before).
public struct AuditSegments: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    var indexPath: String { directory + "/index.db" }

    func path(_ number: Int) -> String { directory + "/" + name(number) }

    /// `segment-000000000001.log`.
    func name(_ number: Int) -> String {
        let digits = String(number)
        return "segment-" + String(repeating: "0", count: max(0, 12 - digits.count)) + digits + ".log"
    }

    /// The segment numbers present, oldest first.
    func numbers() throws(AuditError) -> [Int] {
        guard let dir = opendir(directory) else {
            if errno == ENOENT { return [] }
            throw AuditError("open directory \(directory)", errno: errno)
        }
        defer { closedir(dir) }
        var numbers: [Int] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name.hasPrefix("segment-"), name.hasSuffix(".log"), let number = Int(name.dropFirst(8).dropLast(4)) {
                numbers.append(number)
            }
        }
        return numbers.sorted()
    }

    func size(_ number: Int) -> Int64 {
        var info = stat()
        return stat(path(number), &info) == 0 ? Int64(info.st_size) : 0
    }

    func createDirectory() throws(AuditError) {
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        } catch {
            throw AuditError("create \(directory): \(error)")
        }
    }
}
