import Foundation
import Logging
import Synchronization
import WharfAuth
import WharfStorage
import WharfTestSupport

/// Where a test's identities and signing keys live: `directory`, as on a single server, or with
/// `WHARF_TEST_METADATA=postgres` one new database, as in a cluster. Stores opened again on the same directory
/// share what they hold, as instances do.
struct AuthStorage {
    let identities: IdentityStore
    let signingKeys: any SigningKeyStore

    init(_ directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        guard let settings = try TestMetadata.database(for: directory) else {
            identities = try IdentityStore(directory: directory)
            signingKeys = SigningKeys(path: directory + "/token-keys")
            return
        }
        let database = try Self.pools.withLock { pools in
            if let known = pools[directory] { return known }
            let opened = try PostgreSQLDatabase(settings: settings, logger: Logger(label: "test"))
            pools[directory] = opened
            return opened
        }
        identities = IdentityStore(database: database)
        signingKeys = SigningKeyTable(database: database)
    }

    /// One pool per database, as an instance has: the tests open stores often, and the server's connections are few.
    private static let pools = Mutex<[String: PostgreSQLDatabase]>([:])
}

func scratchDirectory(_ prefix: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)").path
}
