import Foundation
import Hummingbird
import NIOCore
import WharfAuth
import WharfCore
import WharfP2P
import WharfStorage

/// The P2P tracker's HTTP face (`docs/p2p.md`):
///
///     GET  /p2p/v1/key                             the registry's P2P public key (open)
///     GET  /p2p/v1/pieces?repository=R&digest=D    the blob's signed piece list and a piece token (pull on R)
///     POST /p2p/v1/announce                        what an agent holds, where peers reach it (a piece token)
///     POST /p2p/v1/peers                           peers for what an agent lacks, and what to fetch from the origin
///     GET  /p2p/v1/preheat?after=ID                the preheat list, for seeders (what the caller may pull)
///     POST /api/v1/p2p/preheat                     lists an image for the seeders (admin)
///
/// The piece token stands for the pull right: it is issued only to a caller who may pull the blob there.
struct P2PAPI: Sendable {
    let key: P2PKey
    let tokens: PieceTokens
    let lists: PieceLists
    let tracker: Tracker
    let preheater: Preheater

    /// nil when the endpoint is not this API's.
    func respond(to request: Request, endpoint: ServerEndpoint, caller: Caller) async throws -> Response? {
        switch endpoint {
        case .p2pKey:
            struct Key: Encodable {
                let keyID: String
                let publicKey: String
            }
            return try AdminAPI.json(Key(keyID: key.id, publicKey: key.publicKeyPEM))
        case .p2pPieces:
            let query = request.uri.queryParameters
            let repository = try RepositoryName(String(query["repository"] ?? ""))
            let digest = try Digest(query["digest"] ?? "")
            let list = try await lists.list(of: digest, in: repository)
            return try AdminAPI.json(
                PieceGrant(
                    list: try SignedPieceList(list, signedWith: key.privateKey, keyID: key.id),
                    token: try await tokens.issue(
                        subject: caller.identity.name, repository: repository.value, digest: digest.description)))
        case .p2pAnnounce:
            let announcement = try await body(request, as: Announcement.self)
            let list = try await admitted(announcement.token)
            for peer in announcement.distrust ?? [] { tracker.distrust(peer: peer, digest: list.digest) }
            for peer in announcement.unreachable ?? [] where peer != announcement.peer {
                tracker.forget(peer: peer, digest: list.digest)
            }
            tracker.announce(
                digest: list.digest, pieceCount: list.pieces.count, peer: announcement.peer, address: announcement.address,
                have: Set(announcement.have), uploads: announcement.uploads, capacity: announcement.capacity,
                originBytes: announcement.originBytes, peerBytes: announcement.peerBytes)
            return Response(status: .noContent)
        case .p2pPeers:
            let asked = try await body(request, as: PeersRequest.self)
            let list = try await admitted(asked.token)
            let plan = tracker.plan(
                digest: list.digest, pieceCount: list.pieces.count, asker: asked.peer, lacking: Set(asked.lacking),
                limit: min(max(asked.limit ?? 16, 1), 64), originLimit: min(max(asked.originLimit ?? 4, 0), 64))
            return try AdminAPI.json(
                PeerPlan(
                    peers: plan.peers.map { PeerPlan.Peer(id: $0.id, address: $0.address, have: $0.have.sorted()) },
                    fromOrigin: plan.fromOrigin))
        case .p2pPreheat:
            struct Asked: Decodable {
                let repository: String
                let reference: String
            }
            let asked = try await body(request, as: Asked.self)
            let job = try await preheater.preheat(try RepositoryName(asked.repository), try Reference(asked.reference))
            var response = try AdminAPI.json(job)
            response.status = .accepted
            return response
        case .p2pPreheatFeed:
            let after =
                try request.uri.queryParameters["after"].map { text in
                    guard let id = Int(text), id >= 0 else {
                        throw RegistryError(.unsupported, status: 400, "after: not a job id", detail: String(text.prefix(100)))
                    }
                    return id
                } ?? 0
            return try AdminAPI.json(preheater.jobs(after: after) { caller.may(.pull, in: $0) })
        default:
            return nil
        }
    }

    /// The piece list a valid piece token is for (the token names its blob and repository).
    private func admitted(_ token: String) async throws -> PieceList {
        let claims: PieceTokenClaims
        do {
            claims = try await tokens.verify(token)
        } catch {
            throw RegistryError(.denied, status: 403, "the piece token is not valid", detail: "\(error)")
        }
        if let known = lists.known(claims.digest) { return known }
        return try await lists.list(of: try Digest(claims.digest), in: try RepositoryName(claims.repository))
    }

    private func body<T: Decodable>(_ request: Request, as type: T.Type) async throws -> T {
        let bytes = try await request.collectBody(upTo: 1 << 20, tooLarge: "a P2P request is at most 1 MiB")
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes.readableBytesView))
        } catch {
            throw RegistryError(.unsupported, status: 400, "the request body is not valid", detail: "\(error)")
        }
    }
}
