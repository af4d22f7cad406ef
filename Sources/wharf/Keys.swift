import ArgumentParser
import Foundation
import WharfServer
import WharfStorage

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the master keys of at-rest encryption.",
        discussion: """
            Every blob is encrypted under its own data key, which a master key wraps. Master keys are files of 32 \
            random bytes in the key directory (encryption.keyDir, WHARF_ENCRYPTION_KEY_DIR; <data dir>/keys by \
            default), or WHARF_ENCRYPTION_KEY. All but generate talk to the running server.
            """,
        subcommands: [Generate.self, Rotate.self, Status.self, Retire.self, EncryptExisting.self]
    )

    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new master key file (mode 0600) into the key directory.",
            discussion: "It becomes the active key only if the directory has none; wharf keys rotate activates keys.")

        @OptionGroup var store: StoreOptions

        @Option(name: .long, help: ArgumentHelp("Key directory (default: the configuration's).", valueName: "dir"))
        var keyDir: String?

        func run() async throws {
            let directory = try keyDir ?? store.configuration().keyDirectory
            let hadActiveKey = FileManager.default.fileExists(atPath: "\(directory)/active")
            let key = try KeyringDirectory.generate(into: directory)
            if !hadActiveKey { try KeyringDirectory.activate(key.id, in: directory) }
            print("generated master key \(key.id): \(directory)/\(key.id).key")
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Bring in a new active master key and re-wrap every data key with it, online.",
            discussion: """
                Content is not re-encrypted; pushes and pulls go on. Afterwards `wharf keys status` shows the old \
                keys wrapping nothing, and `wharf keys retire ID` removes them. With keys from the environment, \
                restart with the new WHARF_ENCRYPTION_KEY (the old one in WHARF_ENCRYPTION_PREVIOUS_KEYS) and run \
                this with --keep-key.
                """)

        @OptionGroup var server: ServerOptions

        @Flag(name: .long, help: "Re-wrap with the current active key instead of creating a new one.")
        var keepKey = false

        func run() async throws {
            let report = try JSONDecoder().decode(
                RotationReport.self, from: try await server.send("POST", "/api/v1/keys/rotate?newKey=\(!keepKey)"))
            print("active key: \(report.active)")
            print("re-wrapped: \(report.rewrapped), already on the active key: \(report.alreadyCurrent)")
            for id in report.skippedUploads { print("skipped busy upload session: \(id)") }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show which master key wraps how many data keys.")

        @OptionGroup var server: ServerOptions

        func run() async throws {
            let status = try JSONDecoder().decode(KeyStatus.self, from: try await server.send("GET", "/api/v1/keys"))
            for (id, count) in status.keys.sorted(by: { $0.key < $1.key }) {
                print("\(id)\(id == status.active ? " (active)" : "")\t\(count) data keys")
            }
            print("unencrypted blobs\t\(status.unencrypted)")
            for path in status.unreadable { print("unreadable header: \(path)") }
        }
    }

    struct Retire: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a master key that no longer wraps any data key.")

        @OptionGroup var server: ServerOptions

        @Argument(help: "The key's id, as wharf keys status shows it.")
        var id: String

        func run() async throws {
            _ = try await server.send("DELETE", "/api/v1/keys/\(id)")
            print("retired master key \(id)")
        }
    }

    struct EncryptExisting: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "encrypt-existing",
            abstract: "Encrypt, in place, the blobs a store holds in plain text.",
            discussion: """
                For a store written before encryption was on. Each blob is checked against its digest, written \
                encrypted beside itself and renamed over the plain file: a crash at any moment leaves every blob \
                readable. The server keeps serving meanwhile.
                """)

        @OptionGroup var server: ServerOptions

        func run() async throws {
            let report = try JSONDecoder().decode(
                EncryptExistingReport.self, from: try await server.send("POST", "/api/v1/keys/encrypt-existing"))
            print("encrypted \(report.encrypted) blobs (\(report.bytes) bytes); \(report.alreadyEncrypted) already were")
            for digest in report.corrupt { print("left as is, does not match its digest: \(digest)") }
        }
    }
}
