import ArgumentParser
import Logging
import WharfServer

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create or upgrade the PostgreSQL metadata schema.",
        discussion: """
            With metadata.driver postgres, brings the database's schema to this release's version in one transaction, \
            before `wharf serve` runs on it (which refuses any other version). Running it again, or from several \
            hosts at once, changes nothing more. The embedded SQLite file needs no migrate: the server upgrades it.
            """
    )

    @OptionGroup var store: StoreOptions

    func run() async throws {
        let configuration = try store.configuration()
        guard
            let (from, to) = try await WharfServer.migrateMetadata(configuration, logger: Logger(label: "wharf-migrate"))
        else {
            print("migrate: the metadata is the data directory's SQLite file, which wharf serve upgrades itself")
            return
        }
        print(from == to ? "migrate: the schema is at version \(to), nothing to do" : "migrate: schema version \(from) → \(to)")
    }
}
