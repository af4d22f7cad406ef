import Foundation
import Logging
import NIOCore
import Synchronization

extension Agent {
    /// How often a download tells the tracker what it holds and asks it for peers.
    static let planInterval = 0.3
    /// How often a download that lost the tracker tries it again (meanwhile the origin serves).
    static let trackerRetryInterval = 3.0

    /// Fills `fetch`: up to M pieces at once, as `PieceScheduler` picks them; every piece checked against the signed
    /// list before it is stored. The tracker hears what this agent holds at every plan; a peer that served a bad
    /// piece is reported there and never asked again for this blob, and one that could not be reached is reported
    /// gone (it is offered again once it announces itself).
    func download(_ fetch: BlobFetch, repository: String, authorization: String?) async {
        let list = fetch.list
        var scheduler = PieceScheduler(
            pieceCount: list.pieces.count, missing: Set(list.pieces.indices), slots: settings.piecesInFlight)
        var reports = PeerReports()
        var trackerDown = false
        var planning = false
        var lastPlan = -Double.infinity
        var lastProgress = Date().timeIntervalSince1970
        var originFailures = 0

        enum Outcome: Sendable {
            case tick
            case plan(Result<PeerPlan, any Error>, reported: PeerReports, asked: Double)
            case piece(Int, PieceScheduler.Source, Result<ByteBuffer, any Error>)
        }

        let failure: (any Error)? = await withTaskGroup(of: Outcome.self) { group in
            var ticking = false
            while !scheduler.isDone {
                let now = Date().timeIntervalSince1970
                // The plan runs beside the pieces: a tracker that hangs holds up nothing.
                if !planning, now - lastPlan >= (trackerDown ? Self.trackerRetryInterval : Self.planInterval) {
                    planning = true
                    lastPlan = now
                    let announcement = announcement(fetch, reports: reports)
                    let asked = PeersRequest(
                        token: fetch.grant.token, peer: id, lacking: scheduler.wanted, limit: settings.peerLimit,
                        originLimit: settings.piecesInFlight)
                    let reported = reports
                    reports = PeerReports()
                    group.addTask {
                        do {
                            try await self.client.announce(announcement)
                            return .plan(.success(try await self.client.plan(asked)), reported: reported, asked: now)
                        } catch {
                            return .plan(.failure(error), reported: reported, asked: now)
                        }
                    }
                }
                // Pieces go to the origin whatever the plan when the tracker is gone; one that no peer holds does
                // when nothing arrived for a while and nothing is under way (a seed that went quiet, say).
                let stalled = scheduler.running == 0 && now - lastProgress > settings.stallTimeout
                var forced = trackerDown ? scheduler.wanted.first : stalled ? scheduler.unheld : nil
                while let (piece, source) = scheduler.next(now: now, originFor: forced) {
                    forced = trackerDown ? scheduler.wanted.first : nil
                    group.addTask {
                        .piece(piece, source, await self.fetchPiece(piece, of: fetch, from: source, repository, authorization))
                    }
                }
                if !ticking {
                    ticking = true
                    group.addTask {
                        try? await Task.sleep(for: .milliseconds(Int(Self.planInterval * 1000)))
                        return .tick
                    }
                }
                guard let outcome = await group.next() else { break }
                switch outcome {
                case .tick:
                    ticking = false
                case .plan(.success(let plan), _, let asked):
                    planning = false
                    trackerDown = false
                    scheduler.learn(plan, asked: asked)
                case .plan(.failure, let reported, _):
                    planning = false
                    reports.merge(reported)
                    if !trackerDown { stats.trackerFailures.add(1, ordering: .relaxed) }
                    trackerDown = true
                case .piece(let piece, let source, .success(let bytes)):
                    scheduler.finished(piece, stored: true)
                    lastProgress = Date().timeIntervalSince1970
                    switch source {
                    case .origin:
                        stats.originBytes.add(Int64(bytes.readableBytes), ordering: .relaxed)
                        fetch.originBytes.add(Int64(bytes.readableBytes), ordering: .relaxed)
                    case .peer:
                        stats.peerBytes.add(Int64(bytes.readableBytes), ordering: .relaxed)
                        fetch.peerBytes.add(Int64(bytes.readableBytes), ordering: .relaxed)
                    }
                case .piece(let piece, let source, .failure(let error)):
                    scheduler.finished(piece, stored: false)
                    switch (source, error) {
                    case (.peer(let peer, _), is BadPiece):
                        stats.badPieces.add(1, ordering: .relaxed)
                        reports.distrusted.insert(peer)
                        scheduler.avoid(peer, until: .infinity, failedAt: Date().timeIntervalSince1970)
                        logger.warning("a peer served a bad piece", metadata: ["peer": "\(peer)", "piece": "\(piece)"])
                    case (.peer(let peer, _), let error):
                        let now = Date().timeIntervalSince1970
                        // An HTTP answer means the peer is there; 503 means only that its upload slots are taken.
                        let status = (error as? OriginClient.Failure)?.status
                        if status == nil { reports.unreachable.insert(peer) }
                        scheduler.avoid(peer, until: now + (status == 503 ? 0.5 : 2), failedAt: status == 503 ? nil : now)
                    case (.origin, let error):
                        originFailures += 1
                        let refused = (error as? OriginClient.Failure).map { [401, 403, 404].contains($0.status) } ?? false
                        if refused || originFailures > 5 {
                            group.cancelAll()
                            return error
                        }
                    }
                }
            }
            group.cancelAll()
            return nil
        }
        finish(fetch, error: failure)
        // Peers hear at once that this agent holds the whole blob.
        if failure == nil { try? await client.announce(announcement(fetch, reports: reports)) }
    }

    struct BadPiece: Error {}

    /// What a download tells the tracker of the peers that failed it, at its next announcement.
    struct PeerReports: Sendable {
        /// Served a piece that failed its check.
        var distrusted: Set<String> = []
        /// Could not be reached at all.
        var unreachable: Set<String> = []

        mutating func merge(_ other: PeerReports) {
            distrusted.formUnion(other.distrusted)
            unreachable.formUnion(other.unreachable)
        }
    }

    /// Fetches, checks and stores one piece; the piece's bytes on success (only their count is used).
    private func fetchPiece(
        _ piece: Int, of fetch: BlobFetch, from source: PieceScheduler.Source, _ repository: String,
        _ authorization: String?
    ) async -> Result<ByteBuffer, any Error> {
        let list = fetch.list
        let range = list.range(of: piece)
        do {
            let bytes: ByteBuffer
            switch source {
            case .origin:
                bytes = try await client.originRange(
                    repository: repository, digest: list.digest, range: range, authorization: authorization)
            case .peer(_, let address):
                bytes = try await client.peerPiece(
                    address: address, digest: list.digest, index: piece, count: Int64(range.count), token: fetch.grant.token)
            }
            guard bytes.withUnsafeReadableBytes({ list.verify($0, piece: piece) }) else { throw BadPiece() }
            try fetch.store(bytes, piece: piece)
            return .success(bytes)
        } catch {
            return .failure(error)
        }
    }

    private func announcement(_ fetch: BlobFetch, reports: PeerReports) -> Announcement {
        Announcement(
            token: fetch.grant.token, peer: id, address: settings.peerAddress, have: fetch.held,
            uploads: uploads.load(ordering: .relaxed), capacity: settings.uploadSlots,
            distrust: reports.distrusted.isEmpty ? nil : reports.distrusted.sorted(),
            unreachable: reports.unreachable.isEmpty ? nil : reports.unreachable.sorted(),
            originBytes: fetch.originBytes.load(ordering: .relaxed), peerBytes: fetch.peerBytes.load(ordering: .relaxed))
    }
}
