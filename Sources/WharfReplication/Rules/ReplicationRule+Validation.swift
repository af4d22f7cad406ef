import WharfCore

extension ReplicationRule {
    /// Checks the rule as a whole; the error names the field at fault.
    package func validate() throws(RuleError) {
        guard !name.isEmpty, name.utf8.count <= 64,
            name.utf8.allSatisfy({
                $0 == 0x2d || $0 == 0x5f || $0 == 0x2e || (0x30...0x39).contains($0) || (0x61...0x7a).contains($0)
            })
        else {
            throw RuleError(field: "name", "'\(name.prefix(80))' must be 1-64 of a-z, 0-9, '.', '_' and '-'")
        }
        guard remote.url.hasPrefix("http://") || remote.url.hasPrefix("https://"),
            remote.url.split(separator: "/").count == 2
        else {
            throw RuleError(field: "remote.url", "'\(remote.url)' must be http(s)://HOST[:PORT], without a path")
        }
        if (remote.username == nil) != (remote.password == nil && remote.passwordEnv == nil) {
            throw RuleError(field: "remote.username", "give both a user name and a password, or neither")
        }
        if triggers.contains(.event), direction == .pull {
            throw RuleError(field: "triggers", "event triggers are for push rules; a pull rule uses schedule or manual")
        }
        if triggers.contains(.schedule), interval == nil {
            throw RuleError(field: "interval", "a schedule trigger needs an interval")
        }
        if let interval, interval < .seconds(1) {
            throw RuleError(field: "interval", "must be at least 1s")
        }
        if let bandwidth, bandwidth < 1024 {
            throw RuleError(field: "bandwidth", "must be at least 1024 bytes/s")
        }
        if let rewrite {
            guard (try? RepositoryName(rewrite.from)) != nil else {
                throw RuleError(field: "rewrite.from", "'\(rewrite.from)' is not a repository name prefix")
            }
            guard rewrite.to.isEmpty || (try? RepositoryName(rewrite.to)) != nil else {
                throw RuleError(field: "rewrite.to", "'\(rewrite.to)' is not a repository name prefix")
            }
        }
    }
}
