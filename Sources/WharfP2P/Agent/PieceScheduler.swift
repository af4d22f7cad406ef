/// Chooses the next piece of one blob to fetch, and from where: pieces the tracker granted from the origin budget
/// (at most half the slots, so peer fetches go on beside them), then the rarest piece that some trusted peer holds,
/// from the holder this agent asks least at the moment; the origin for a piece whose holders all failed this agent
/// (and that the tracker still offers after hearing so), for what no peer holds after a stall (`unheld`), and for
/// everything when the tracker cannot be reached.
struct PieceScheduler {
    enum Source: Equatable, Hashable {
        case origin
        case peer(id: String, address: String)
    }

    let pieceCount: Int
    private(set) var missing: Set<Int>
    private(set) var inFlight: [Int: Source] = [:]
    /// The peers of the tracker's last plan, with what each held then (plus what it was since seen to serve).
    private var peers: [PeerPlan.Peer] = []
    private var holdings: [String: Set<Int>] = [:]
    /// Pieces the tracker asked this agent to fetch from the origin.
    private var granted: [Int] = []
    /// Peers not to ask again, until the given time (forever for one that served a bad piece).
    private var avoidedUntil: [String: Double] = [:]
    /// Of those, the ones that failed (not merely busy), with when: their pieces may come from the origin meanwhile.
    private var failedAt: [String: Double] = [:]
    /// When the plan in force was asked for: a failure before that was reported with it.
    private var planAsked = -Double.infinity
    let slots: Int
    let perPeer: Int

    init(pieceCount: Int, missing: Set<Int>, slots: Int, perPeer: Int = 2) {
        self.pieceCount = pieceCount
        self.missing = missing
        self.slots = max(slots, 1)
        self.perPeer = perPeer
    }

    var isDone: Bool { missing.isEmpty }
    var running: Int { inFlight.count }
    var wanted: [Int] { missing.subtracting(inFlight.keys).sorted() }

    /// Takes the tracker's plan, asked for at `asked` (with this agent's reports of the peers that failed it).
    mutating func learn(_ plan: PeerPlan, asked: Double) {
        planAsked = asked
        peers = plan.peers
        holdings = Dictionary(plan.peers.map { ($0.id, Set($0.have)) }, uniquingKeysWith: { a, _ in a })
        granted = plan.fromOrigin
    }

    /// Leaves `peer` alone until `until`: it `failed` at `now` (vanished, lied), or was only busy (every upload slot
    /// taken).
    mutating func avoid(_ peer: String, until: Double, failedAt now: Double? = nil) {
        avoidedUntil[peer] = until
        failedAt[peer] = now
    }

    /// The next fetch, or nil when every slot is busy or nothing can be fetched now. `originFor` is a piece to take
    /// from the origin whatever the tracker said (a stall, or no tracker).
    mutating func next(now: Double, originFor forced: Int? = nil) -> (piece: Int, source: Source)? {
        guard inFlight.count < slots else { return nil }
        let fromOrigin = inFlight.values.filter { $0 == .origin }.count
        if let forced, missing.contains(forced), inFlight[forced] == nil { return start(forced, .origin) }
        if fromOrigin < (slots + 1) / 2, let piece = nextGranted() { return start(piece, .origin) }
        if let (piece, peer) = rarestFromPeers(now: now) { return start(piece, peer) }
        if let piece = nextGranted() { return start(piece, .origin) }
        if fromOrigin < (slots + 1) / 2, let piece = orphaned(now: now) { return start(piece, .origin) }
        return nil
    }

    /// A piece whose every holder failed this agent (vanished, or lied), and that the tracker, told so, still offers:
    /// it counts the piece as held, so it grants it to nobody, and the origin serves it. Until the tracker has heard,
    /// the next plan is waited for: it drops a peer reported gone, and grants its pieces within the origin budget
    /// (a swarm whose old seeds all left would otherwise send every agent to the origin for everything). A holder
    /// that was only busy is waited for.
    private func orphaned(now: Double) -> Int? {
        let avoided = Set(
            avoidedUntil.filter { $0.value > now && failedAt[$0.key].map { $0 < planAsked } == true }.keys)
        guard !avoided.isEmpty else { return nil }
        return wanted.first { piece in
            let holders = holdings.filter { $0.value.contains(piece) }.keys
            return !holders.isEmpty && holders.allSatisfy(avoided.contains)
        }
    }

    /// A piece for the origin once nothing has arrived for a while: one that no peer of the last plan holds (its
    /// seed went quiet, say). Pieces that busy peers hold are waited for: sending those to the origin costs it a
    /// copy per waiting agent in a large swarm.
    var unheld: Int? {
        wanted.first { piece in !holdings.values.contains { $0.contains(piece) } }
    }

    private mutating func nextGranted() -> Int? {
        while let piece = granted.first {
            granted.removeFirst()
            if missing.contains(piece), inFlight[piece] == nil { return piece }
        }
        return nil
    }

    private func rarestFromPeers(now: Double) -> (Int, Source)? {
        let usable = peers.filter { (avoidedUntil[$0.id] ?? 0) <= now }
        guard !usable.isEmpty else { return nil }
        var load: [String: Int] = [:]
        for case .peer(let id, _) in inFlight.values { load[id, default: 0] += 1 }
        var best: (piece: Int, holders: Int, peer: PeerPlan.Peer)?
        for piece in missing where inFlight[piece] == nil {
            let holders = usable.filter { holdings[$0.id]?.contains(piece) == true }
            guard !holders.isEmpty else { continue }
            let free = holders.filter { load[$0.id, default: 0] < perPeer }
            guard let peer = free.min(by: { load[$0.id, default: 0] < load[$1.id, default: 0] }) else { continue }
            if best == nil || holders.count < best!.holders || (holders.count == best!.holders && piece < best!.piece) {
                best = (piece, holders.count, peer)
            }
        }
        return best.map { ($0.piece, .peer(id: $0.peer.id, address: $0.peer.address)) }
    }

    private mutating func start(_ piece: Int, _ source: Source) -> (Int, Source) {
        inFlight[piece] = source
        return (piece, source)
    }

    /// A fetch ended: stored, or given back to be fetched again.
    mutating func finished(_ piece: Int, stored: Bool) {
        inFlight[piece] = nil
        if stored { missing.remove(piece) }
    }
}
