import Foundation

/// Many agents pulling one blob at once, beyond what one machine can run: the tracker's real `Swarm` and each agent's
/// real `PieceScheduler`, driven by a discrete-event clock over modelled links instead of sockets (`wharf p2p
/// simulate`). A transfer's rate is fixed when it starts: the smaller of the sender's uplink over its upload slots
/// and the receiver's downlink over its pieces in flight; the origin's uplink is shared by its transfers under way.
package struct SwarmSimulation {
    package struct Settings: Sendable {
        package var agents: Int
        package var blobBytes: Int64
        package var pieceBytes: Int64 = PieceList.defaultPieceSize
        /// Each agent's uplink and downlink, bytes per second.
        package var linkBytesPerSecond: Double = 125e6
        package var originBytesPerSecond: Double = 1.25e9
        package var piecesInFlight = 8
        package var uploadSlots = 8
        package var peerLimit = 16
        package var planInterval = 0.3
        /// Agents start spread evenly over this many seconds (0: all at once).
        package var startSpread: Double = 0

        package init(agents: Int, blobBytes: Int64) {
            self.agents = agents
            self.blobBytes = blobBytes
        }
    }

    package struct Result: Sendable {
        /// Seconds from each agent's start to its last piece, sorted.
        package let completions: [Double]
        package let originBytes: Int64
        package let peerBytes: Int64

        package func percentile(_ p: Double) -> Double {
            completions[min(completions.count - 1, Int((Double(completions.count) * p).rounded(.up)) - 1)]
        }
    }

    private struct Node {
        var scheduler: PieceScheduler
        var have: Set<Int> = []
        var uploads = 0
        var started: Double
        var finished: Double?
        var lastProgress: Double
    }

    private enum Event {
        case tick(agent: Int)
        case arrived(agent: Int, piece: Int, from: Int?)  // nil: the origin
    }

    let settings: Settings
    private var nodes: [Node] = []
    private var swarm: Swarm
    private var queue = EventQueue<Event>()
    private var originTransfers = 0
    private var originBytes: Int64 = 0
    private var peerBytes: Int64 = 0
    private let pieceCount: Int

    package init(_ settings: Settings) {
        self.settings = settings
        pieceCount = Int((settings.blobBytes + settings.pieceBytes - 1) / settings.pieceBytes)
        swarm = Swarm(pieceCount: pieceCount)
    }

    package mutating func run() -> Result {
        for agent in 0..<settings.agents {
            let start = settings.agents > 1 ? settings.startSpread * Double(agent) / Double(settings.agents - 1) : 0
            nodes.append(
                Node(
                    scheduler: PieceScheduler(
                        pieceCount: pieceCount, missing: Set(0..<pieceCount), slots: settings.piecesInFlight),
                    started: start, lastProgress: start))
            queue.push(.tick(agent: agent), at: start)
        }
        var remaining = settings.agents
        while remaining > 0, let (event, now) = queue.pop() {
            switch event {
            case .tick(let agent) where nodes[agent].finished != nil:
                // A finished agent keeps announcing what it caches, as a real one does.
                announce(agent, now: now)
                queue.push(.tick(agent: agent), at: now + 10)
            case .tick(let agent):
                plan(agent, now: now)
                fill(agent, now: now)
                queue.push(.tick(agent: agent), at: now + settings.planInterval)
            case .arrived(let agent, let piece, let source):
                let bytes = pieceRange(piece)
                if let source {
                    nodes[source].uploads -= 1
                    peerBytes += bytes
                } else {
                    originTransfers -= 1
                    originBytes += bytes
                }
                nodes[agent].scheduler.finished(piece, stored: true)
                nodes[agent].have.insert(piece)
                nodes[agent].lastProgress = now
                if nodes[agent].scheduler.isDone {
                    nodes[agent].finished = now
                    remaining -= 1
                    announce(agent, now: now)
                } else {
                    fill(agent, now: now)
                }
            }
        }
        return Result(
            completions: nodes.map { ($0.finished ?? .infinity) - $0.started }.sorted(), originBytes: originBytes,
            peerBytes: peerBytes)
    }

    private func pieceRange(_ piece: Int) -> Int64 {
        min(settings.pieceBytes, settings.blobBytes - Int64(piece) * settings.pieceBytes)
    }

    private mutating func announce(_ agent: Int, now: Double) {
        swarm.announce(
            peer: String(agent), address: String(agent), have: nodes[agent].have, uploads: nodes[agent].uploads,
            capacity: settings.uploadSlots, now: now)
    }

    /// What the agent does every plan interval: announce, then ask for peers and its share of the origin budget.
    private mutating func plan(_ agent: Int, now: Double) {
        announce(agent, now: now)
        let lacking = Set(nodes[agent].scheduler.wanted)
        let peers = swarm.peers(for: String(agent), lacking: lacking, limit: settings.peerLimit, now: now)
        let fromOrigin = swarm.originPieces(
            for: String(agent), lacking: lacking, limit: settings.piecesInFlight, now: now)
        nodes[agent].scheduler.learn(
            PeerPlan(
                peers: peers.map { .init(id: $0.id, address: $0.address, have: Array($0.have)) },
                fromOrigin: fromOrigin), asked: now)
    }

    /// Starts fetches until the agent's slots are full or nothing can be fetched; a busy peer refuses (503), as a
    /// real one does, and is left alone for a while.
    private mutating func fill(_ agent: Int, now: Double) {
        let stalled = nodes[agent].scheduler.running == 0 && now - nodes[agent].lastProgress > 10
        var forced = stalled ? nodes[agent].scheduler.unheld : nil
        while let (piece, source) = nodes[agent].scheduler.next(now: now, originFor: forced) {
            forced = nil
            let down = settings.linkBytesPerSecond / Double(settings.piecesInFlight)
            let bytes = Double(pieceRange(piece))
            switch source {
            case .origin:
                originTransfers += 1
                let rate = min(down, settings.originBytesPerSecond / Double(originTransfers))
                queue.push(.arrived(agent: agent, piece: piece, from: nil), at: now + bytes / rate)
            case .peer(let id, _):
                let peer = Int(id)!
                guard nodes[peer].uploads < settings.uploadSlots else {
                    nodes[agent].scheduler.finished(piece, stored: false)
                    nodes[agent].scheduler.avoid(id, until: now + 0.5)
                    continue
                }
                nodes[peer].uploads += 1
                let rate = min(down, settings.linkBytesPerSecond / Double(settings.uploadSlots))
                queue.push(.arrived(agent: agent, piece: piece, from: peer), at: now + bytes / rate)
            }
        }
    }
}

/// A min-heap of events by time; equal times come out in the order they went in.
struct EventQueue<Element> {
    private var heap: [(time: Double, order: Int, element: Element)] = []
    private var count = 0

    mutating func push(_ element: Element, at time: Double) {
        count += 1
        heap.append((time, count, element))
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.before(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> (Element, Double)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let top = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var first = parent
            if left < heap.count, Self.before(heap[left], heap[first]) { first = left }
            if right < heap.count, Self.before(heap[right], heap[first]) { first = right }
            guard first != parent else { break }
            heap.swapAt(parent, first)
            parent = first
        }
        return (top.element, top.time)
    }

    private static func before(
        _ a: (time: Double, order: Int, element: Element), _ b: (time: Double, order: Int, element: Element)
    ) -> Bool {
        a.time < b.time || (a.time == b.time && a.order < b.order)
    }
}
