import ArgumentParser
import Foundation
import Logging
import WharfServer
import WharfStorage

struct Fsck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check that the blob files and the metadata agree.",
        discussion: """
            Re-hashes every blob (or a random sample; encrypted blobs are decrypted and every chunk's tag checked), \
            and lists corrupt blobs, metadata rows whose file is missing, and unexpected files under blobs/. It also \
            lists garbage, which is not damage: orphan blob files (no row names them; a crash between a commit's \
            rename and its metadata write leaves one) and upload files, with their age. Garbage collection reclaims \
            orphans older than gc.grace, and the upload TTL purges upload files. With --repair, corrupt blobs are \
            moved to quarantine/, the rows of missing blobs are removed, and orphan files older than gc.grace are \
            deleted. Exit status: 0 no damage (garbage may be listed), 1 damage found and repaired, 2 damage left.
            """
    )

    @OptionGroup var store: StoreOptions

    @Option(name: .long, help: "Re-hash only this many randomly chosen blobs.")
    var sample: Int?

    @Flag(name: .long, help: "Quarantine corrupt blobs, remove rows of missing blobs, delete orphan files.")
    var repair = false

    func run() async throws {
        let configuration = try store.configuration()
        let registry = try WharfServer.openStore(configuration, logger: Logger(label: "wharf-fsck"))
        try await registry.prepareStorage()
        let report = try await StoreChecker(registry: registry).check(
            sample: sample, repair: repair, grace: configuration.gcGrace
        ) { done, total in
            FileHandle.standardError.write(Data("fsck: hashed \(done) of \(total) blobs\n".utf8))
        }
        try await registry.close()
        print("fsck: \(report.files) blob files, \(report.hashed) re-hashed")
        for digest in report.corrupt { print("corrupt: \(digest)") }
        for digest in report.danglingRows { print("missing file for blob row: \(digest)") }
        for path in report.unexpectedFiles { print("unexpected file: \(path)") }
        for file in report.orphanFiles {
            print("garbage: orphan blob file \(file.path), \(file.size) bytes, \(Self.age(file.age)) old")
        }
        for file in report.uploadFiles {
            let kind = report.abandonedUploads.contains(file.path) ? "left by a crash" : "session"
            print("upload file (\(kind)): \(file.path), \(file.size) bytes, \(Self.age(file.age)) old")
        }
        for action in report.repaired { print("repaired: \(action)") }
        if report.unencrypted > 0 {
            print("fsck: \(report.unencrypted) blob(s) stored in plain text; wharf keys encrypt-existing encrypts them")
        }
        if !report.orphanFiles.isEmpty {
            print(
                "fsck: \(report.orphanFiles.count) orphan file(s) are reclaimable garbage, not damage: garbage collection "
                    + "deletes them once older than gc.grace (\(configuration.gcGrace)), and so does --repair")
        }
        if report.isClean {
            print("fsck: no damage found")
        } else {
            let damage = report.corrupt.count + report.unexpectedFiles.count + report.danglingRows.count
            let left = repair ? report.unexpectedFiles.count : damage
            print("fsck: \(left == 0 ? "problems repaired" : "\(left) problem(s) left")")
            throw ExitCode(left == 0 ? 1 : 2)
        }
    }

    /// `95` → `1m35s`, `7300` → `2h1m`.
    static func age(_ seconds: Double) -> String {
        let total = max(Int(seconds), 0)
        if total < 60 { return "\(total)s" }
        if total < 3600 { return "\(total / 60)m\(total % 60)s" }
        if total < 86400 { return "\(total / 3600)h\(total / 60 % 60)m" }
        return "\(total / 86400)d\(total / 3600 % 24)h"
    }
}
