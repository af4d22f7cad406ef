import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The proxies whose `X-Forwarded-For` is believed, as CIDR ranges (`10.0.0.0/8`, `::1/128`, or a bare address).
struct TrustedProxies: Sendable, Equatable {
    private struct Range: Sendable, Equatable {
        let network: [UInt8]
        let prefix: Int

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == network.count else { return false }
            var bits = prefix
            for (a, b) in zip(address, network) where bits > 0 {
                let mask: UInt8 = bits >= 8 ? 0xff : ~(0xff >> UInt8(bits))
                if a & mask != b & mask { return false }
                bits -= 8
            }
            return true
        }
    }

    private let ranges: [Range]

    init(_ cidrs: [String]) throws {
        ranges = try cidrs.map { cidr in
            let parts = cidr.split(separator: "/", maxSplits: 1).map(String.init)
            guard let network = parts.first.flatMap(Self.bytes) else {
                throw WharfConfiguration.Invalid(description: "trusted proxy '\(cidr)' is not an IP address or CIDR range")
            }
            let prefix = parts.count == 2 ? Int(parts[1]) : network.count * 8
            guard let prefix, (0...network.count * 8).contains(prefix) else {
                throw WharfConfiguration.Invalid(description: "trusted proxy '\(cidr)' has a bad prefix length")
            }
            return Range(network: network, prefix: prefix)
        }
    }

    /// The client's address: the peer's own, unless the peer is a trusted proxy; then the right-most address in
    /// `X-Forwarded-For` that is not itself a trusted proxy (the left part of the header is the client's to write).
    func client(peer: String, forwardedFor: String?) -> String {
        guard !ranges.isEmpty, let forwardedFor, isTrusted(peer) else { return peer }
        let hops = forwardedFor.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        for hop in hops.reversed() where !hop.isEmpty {
            guard Self.bytes(hop) != nil else { return peer }  // not an address: do not believe the header
            if !isTrusted(hop) { return hop }
        }
        return hops.first(where: { !$0.isEmpty }) ?? peer
    }

    private func isTrusted(_ address: String) -> Bool {
        guard let bytes = Self.bytes(address) else { return false }
        return ranges.contains { $0.contains(bytes) }
    }

    private static func bytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: v6) { Array($0) } }
        return nil
    }
}
