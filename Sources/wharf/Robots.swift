import ArgumentParser
import Foundation
import WharfAuth
import WharfServer

struct Robots: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage robot accounts: machine credentials for CI and deployments.",
        discussion: """
            A robot logs in as robot$<name> with the secret printed once by `add`; only a hash of the secret is \
            kept. Policies name robots under `robots:`. Changes take effect in a running server within a second.
            """,
        subcommands: [Add.self, List.self, Disable.self, Enable.self, Remove.self]
    )

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a robot account and print its secret.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Robot name: 1 to 64 of a-z, 0-9, '.', '_', '-'.") var name: String
        @Option(name: .long, help: "A group the robot belongs to; repeat for several.") var group: [String] = []
        @Option(name: .long, help: ArgumentHelp("Expire after this long (e.g. 90d, 12h).", valueName: "duration"))
        var expiresIn: String?
        @Option(name: .long, help: "What the robot is for.") var description = ""

        func run() async throws {
            var expires: Int64?
            if let expiresIn {
                let lifetime = try WharfConfiguration.duration(expiresIn, "--expires-in")
                expires = IdentityStore.now() + lifetime.components.seconds
            }
            let secret = try await identityStore(store).addRobot(name, groups: group, description: description, expires: expires)
            print("robot account robot$\(name) created\(expires.map { ", expires \(date($0))" } ?? "").")
            print("Its secret is shown only now:")
            print(secret)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List robot accounts.")
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let now = IdentityStore.now()
            for robot in try await identityStore(store).robots() {
                let state =
                    robot.disabled ? "disabled" : robot.expires.map { $0 <= now ? "expired" : "active" } ?? "active"
                print(
                    "robot$\(robot.name)\t\(state)\texpires \(robot.expires.map(date) ?? "never")\t"
                        + "\(robot.groups.isEmpty ? "-" : robot.groups)\t\(robot.description)")
            }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Refuse a robot's logins and tokens from now on.")
        @OptionGroup var store: StoreOptions
        @Argument var name: String

        func run() async throws {
            try await identityStore(store).setRobotDisabled(robotName(name), true)
            print("disabled robot$\(robotName(name))")
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let a disabled robot in again.")
        @OptionGroup var store: StoreOptions
        @Argument var name: String

        func run() async throws {
            try await identityStore(store).setRobotDisabled(robotName(name), false)
            print("enabled robot$\(robotName(name))")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a robot account.")
        @OptionGroup var store: StoreOptions
        @Argument var name: String

        func run() async throws {
            try await identityStore(store).removeRobot(robotName(name))
            print("removed robot$\(robotName(name))")
        }
    }
}

/// `ci` or `robot$ci`.
private func robotName(_ name: String) -> String {
    name.hasPrefix(Identity.robotPrefix) ? String(name.dropFirst(Identity.robotPrefix.count)) : name
}
