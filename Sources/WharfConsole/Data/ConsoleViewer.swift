/// Who looks at the console, and what the access policy lets them see and do. The console shows a repository only
/// to those who may pull it, and offers deletes only to those who may delete there.
package struct ConsoleViewer: Sendable {
    /// The identity's name (`anonymous` before sign-in).
    package let name: String
    package let signedIn: Bool
    /// May read the audit log, the replication and P2P status, and the store's overview.
    package let isAdmin: Bool
    package let mayPull: @Sendable (String) -> Bool
    package let mayDelete: @Sendable (String) -> Bool

    package init(
        name: String, signedIn: Bool, isAdmin: Bool, mayPull: @escaping @Sendable (String) -> Bool,
        mayDelete: @escaping @Sendable (String) -> Bool
    ) {
        self.name = name
        self.signedIn = signedIn
        self.isAdmin = isAdmin
        self.mayPull = mayPull
        self.mayDelete = mayDelete
    }
}
