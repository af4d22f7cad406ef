import ArgumentParser
import WharfAuth
import WharfServer

struct Auth: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the keys that sign access tokens.",
        discussion: """
            Keys are PEM files in <auth dir>/token-keys, named by key id (kid); `active` names the one that signs. \
            With metadata.driver postgres they are rows of the database, shared by every instance. The server \
            rereads them every 10 seconds. To rotate: rotate-signing-key, wait one token \
            lifetime (auth.token.lifetime; a day for refresh tokens you want to keep), then retire-signing-key the \
            old one.
            """,
        subcommands: [SigningKeysCommand.self, RotateSigningKey.self, RetireSigningKey.self]
    )

    struct SigningKeysCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "signing-keys", abstract: "List the signing keys.")
        @OptionGroup var store: StoreOptions

        func run() async throws {
            guard let (keys, active) = try await signingKeys(store).load() else { return print("no signing keys yet") }
            for key in keys { print("\(key.id)\t\(key.algorithm.rawValue)\t\(key.id == active ? "active" : "verifies only")") }
        }
    }

    struct RotateSigningKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-signing-key", abstract: "Add a new signing key and make it the active one.")
        @OptionGroup var store: StoreOptions
        @Option(name: .long, help: "ES256 or RS256 (default: auth.token.algorithm).") var algorithm: String?

        func run() async throws {
            let configuration = try store.configuration()
            let chosen = try algorithm.map { try AuthOptions.algorithm($0, "--algorithm") } ?? configuration.auth.algorithm
            print("new active signing key \(try await signingKeys(store).addActiveKey(chosen)) (\(chosen.rawValue))")
        }
    }

    struct RetireSigningKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "retire-signing-key", abstract: "Remove a signing key; tokens it signed stop working.")
        @OptionGroup var store: StoreOptions
        @Argument var kid: String

        func run() async throws {
            try await signingKeys(store).retire(kid)
            print("retired signing key \(kid)")
        }
    }
}

private func signingKeys(_ store: StoreOptions) throws -> any SigningKeyStore { try identityStorage(store).signingKeys }
