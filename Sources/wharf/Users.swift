import ArgumentParser
import Foundation
import Logging
import WharfAuth
import WharfServer

#if canImport(Glibc)
    import Glibc
#endif

struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage Wharf's own users (bcrypt passwords in <auth dir>/identities.db, or in PostgreSQL).",
        discussion: """
            Changes take effect in a running server within a second. Users of an htpasswd file (auth.htpasswd) \
            are managed with htpasswd -B. Who may do what is set by auth.policies in the configuration.
            """,
        subcommands: [Add.self, Remove.self, List.self, Passwd.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a user.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "User name: 1 to 64 of a-z, 0-9, '.', '_', '-'.") var name: String
        @Option(name: .long, help: "A group the user belongs to; repeat for several.") var group: [String] = []
        @Flag(name: .long, help: "Read the password from the first line of standard input.") var passwordStdin = false

        func run() async throws {
            let password = try readPassword(fromStdin: passwordStdin)
            try await identityStore(store).addUser(name, password: password, groups: group)
            print("added user \(name)")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a user.")
        @OptionGroup var store: StoreOptions
        @Argument var name: String

        func run() async throws {
            try await identityStore(store).removeUser(name)
            print("removed user \(name)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List users and their groups.")
        @OptionGroup var store: StoreOptions

        func run() async throws {
            for user in try await identityStore(store).users() {
                print("\(user.name)\t\(user.groups.isEmpty ? "-" : user.groups)\tcreated \(date(user.created))")
            }
        }
    }

    struct Passwd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a user's password.")
        @OptionGroup var store: StoreOptions
        @Argument var name: String
        @Flag(name: .long, help: "Read the password from the first line of standard input.") var passwordStdin = false

        func run() async throws {
            let password = try readPassword(fromStdin: passwordStdin)
            try await identityStore(store).setPassword(name, password: password)
            print("password of \(name) changed")
        }
    }
}

/// Where the server keeps its identities and signing keys: the auth directory, or the cluster's PostgreSQL database.
func identityStorage(_ store: StoreOptions) throws -> IdentityStorage {
    try IdentityStorage.open(store.configuration(), logger: Logger(label: "wharf"))
}

func identityStore(_ store: StoreOptions) throws -> IdentityStore { try identityStorage(store).identities }

func date(_ seconds: Int64) -> String {
    ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(seconds)))
}

/// A password from standard input (its first line) or typed twice at the terminal without echo.
func readPassword(fromStdin: Bool) throws -> String {
    let password: String
    if fromStdin || isatty(STDIN_FILENO) == 0 {
        password = readLine(strippingNewline: true) ?? ""
    } else {
        let first = String(cString: getpass("Password: "))
        guard String(cString: getpass("Again: ")) == first else { throw ValidationError("the passwords differ") }
        password = first
    }
    guard password.count >= 8 else { throw ValidationError("a password needs at least 8 characters") }
    return password
}
