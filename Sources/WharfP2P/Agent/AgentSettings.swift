import Foundation

/// What `wharf agent` is told on its command line.
package struct AgentSettings: Sendable {
    /// The registry the agent fronts, e.g. `https://registry:5443`.
    package var origin: String
    /// Where the tracker's `/p2p/v1/…` is: the origin itself unless told otherwise.
    package var tracker: String
    /// How other agents reach this one's peer port (`http://host:port` or `https://…`).
    package var peerAddress: String
    package var cacheDirectory: String
    package var cacheSize: Int64
    /// Pieces fetched at once for one blob (M), and peers asked for (K).
    package var piecesInFlight = 8
    package var peerLimit = 16
    /// Pieces this agent sends to other peers at once; more asks get 503 and go elsewhere.
    package var uploadSlots = 8
    /// A CA file that signs the origin's and the peers' TLS certificates; `insecure` trusts any.
    package var caFile: String?
    package var insecure = false
    /// Seconds a missing piece may wait for a peer before it is fetched from the origin anyway.
    package var stallTimeout: Double = 10
    /// Test only: every piece this agent serves to a peer has one byte flipped.
    package var corruptServedPieces = false

    package init(origin: String, tracker: String? = nil, peerAddress: String, cacheDirectory: String, cacheSize: Int64) {
        self.origin = Self.trimmed(origin)
        self.tracker = Self.trimmed(tracker ?? origin)
        self.peerAddress = Self.trimmed(peerAddress)
        self.cacheDirectory = cacheDirectory
        self.cacheSize = cacheSize
    }

    /// The `host[:port]` the origin is known by, as containerd's `?ns=` names it.
    package var originHost: String {
        let scheme = origin.range(of: "://").map { origin[$0.upperBound...] } ?? origin[...]
        return String(scheme.prefix { $0 != "/" }).lowercased()
    }

    private static func trimmed(_ url: String) -> String {
        url.hasSuffix("/") ? String(url.dropLast()) : url
    }

    /// `20GiB`, `512MiB`, `1G`, `1000000`: a size with an optional binary (KiB…TiB) or decimal (K…T, KB…TB) unit.
    package static func parseSize(_ text: String) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isNumber || $0 == "." }
        guard let value = Double(digits), value >= 0 else { return nil }
        let unit = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()
        let units: [String: Double] = [
            "": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
            "kib": 1024, "mib": 1_048_576, "gib": 1_073_741_824, "tib": 1_099_511_627_776,
        ]
        guard let factor = units[unit] else { return nil }
        return Int64(value * factor)
    }
}
