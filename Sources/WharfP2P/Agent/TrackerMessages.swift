/// The bodies the agent and the tracker exchange (`docs/p2p.md`).
package struct PieceGrant: Sendable, Codable {
    package let list: SignedPieceList
    package let token: String

    package init(list: SignedPieceList, token: String) {
        self.list = list
        self.token = token
    }
}

package struct Announcement: Sendable, Codable {
    package let token: String
    package let peer: String
    package let address: String
    package let have: [Int]
    package let uploads: Int
    package let capacity: Int
    /// Peers that served this agent a piece that failed its check.
    package let distrust: [String]?
    /// Peers this agent could not reach: gone until they announce again.
    package let unreachable: [String]?
    /// Bytes of this blob the agent received from the origin and from peers while fetching it (the console's origin
    /// against peer bytes); nil once the blob is only cached.
    package let originBytes: Int64?
    package let peerBytes: Int64?

    package init(
        token: String, peer: String, address: String, have: [Int], uploads: Int, capacity: Int, distrust: [String]?,
        unreachable: [String]? = nil, originBytes: Int64? = nil, peerBytes: Int64? = nil
    ) {
        self.token = token
        self.peer = peer
        self.address = address
        self.have = have
        self.uploads = uploads
        self.capacity = capacity
        self.distrust = distrust
        self.unreachable = unreachable
        self.originBytes = originBytes
        self.peerBytes = peerBytes
    }
}

package struct PeersRequest: Sendable, Codable {
    package let token: String
    package let peer: String
    package let lacking: [Int]
    package let limit: Int?
    package let originLimit: Int?

    package init(token: String, peer: String, lacking: [Int], limit: Int?, originLimit: Int?) {
        self.token = token
        self.peer = peer
        self.lacking = lacking
        self.limit = limit
        self.originLimit = originLimit
    }
}

package struct PeerPlan: Sendable, Codable {
    package struct Peer: Sendable, Codable, Equatable {
        package let id: String
        package let address: String
        package let have: [Int]

        package init(id: String, address: String, have: [Int]) {
            self.id = id
            self.address = address
            self.have = have
        }
    }

    package let peers: [Peer]
    package let fromOrigin: [Int]

    package init(peers: [Peer], fromOrigin: [Int]) {
        self.peers = peers
        self.fromOrigin = fromOrigin
    }
}
