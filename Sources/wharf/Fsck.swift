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
            and lists corrupt blobs, files no metadata names, and \
            metadata rows whose file is missing. With --repair, corrupt blobs are moved to quarantine/ and the rows \
            of missing blobs are removed; orphan files are only reported. Exit status: 0 clean, 1 problems found \
            and repaired, 2 problems left.
            """
    )

    @OptionGroup var store: StoreOptions

    @Option(name: .long, help: "Re-hash only this many randomly chosen blobs.")
    var sample: Int?

    @Flag(name: .long, help: "Quarantine corrupt blobs and remove rows of missing blobs.")
    var repair = false

    func run() async throws {
        let configuration = try store.configuration()
        let registry = try WharfServer.openStore(configuration, logger: Logger(label: "wharf-fsck"))
        let report = try await StoreChecker(registry: registry).check(sample: sample, repair: repair) { done, total in
            FileHandle.standardError.write(Data("fsck: hashed \(done) of \(total) blobs\n".utf8))
        }
        print("fsck: \(report.files) blob files, \(report.hashed) re-hashed")
        for digest in report.corrupt { print("corrupt: \(digest)") }
        for path in report.orphanFiles { print("orphan file: \(path)") }
        for digest in report.danglingRows { print("missing file for blob row: \(digest)") }
        for action in report.repaired { print("repaired: \(action)") }
        if report.unencrypted > 0 {
            print("fsck: \(report.unencrypted) blob(s) stored in plain text; wharf keys encrypt-existing encrypts them")
        }
        if report.isClean {
            print("fsck: the store is clean")
        } else {
            let left =
                repair ? report.orphanFiles.count : report.corrupt.count + report.orphanFiles.count + report.danglingRows.count
            print("fsck: \(left == 0 ? "problems repaired" : "\(left) problem(s) left")")
            throw ExitCode(left == 0 ? 1 : 2)
        }
    }
}
