import Foundation
import Logging
import NIOCore
import Synchronization
import WharfCore
import WharfStorage

#if canImport(Glibc)
    import Glibc
#endif

/// `wharf agent`: a node's registry mirror that fetches blobs as pieces from other agents and, within the tracker's
/// budget, from the origin; keeps them in a bounded cache; and serves their pieces to other agents against piece
/// tokens. The HTTP side is in WharfServer.
package final class Agent: Sendable {
    package let settings: AgentSettings
    package let id: String
    package let client: OriginClient
    package let cache: BlobCache
    package let stats = AgentStats()
    package let logger: Logger
    /// Pieces being sent to other agents now.
    let uploads = Atomic<Int>(0)
    private let verifier = Mutex<PieceTokens?>(nil)
    private let fetches = Mutex<[String: BlobFetch]>([:])
    /// The newest piece token per cached blob: the agent announces a blob while it holds a valid one.
    private let announceTokens = Mutex<[String: (token: String, list: PieceList, expires: Double)]>([:])
    /// Piece lists of cached blobs, read back from disk (signature checked) when a peer first asks.
    private let cachedLists = Mutex<[String: PieceList]>([:])

    package init(settings: AgentSettings, logger: Logger) throws {
        self.settings = settings
        self.logger = logger
        cache = try BlobCache(directory: settings.cacheDirectory, limit: settings.cacheSize)
        id = try Self.loadOrCreateID(in: settings.cacheDirectory)
        client = try OriginClient(settings: settings, agentID: id)
    }

    package func shutdown() async throws { try await client.shutdown() }

    /// The agent's id, kept beside its cache so that a restarted agent is the same peer.
    private static func loadOrCreateID(in directory: String) throws -> String {
        let path = directory + "/agent-id"
        if let id = try? String(contentsOfFile: path, encoding: .utf8), !id.isEmpty {
            return id.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let id = UUID().uuidString.lowercased()
        try writeDurably(Array(id.utf8), to: path, mode: 0o600)
        return id
    }

    /// Checks piece tokens with the registry's public key, fetched from the tracker once.
    package func tokenVerifier() async throws -> PieceTokens {
        if let verifier = verifier.withLock({ $0 }) { return verifier }
        let tokens = try await PieceTokens(verifyingWith: try await client.publicKey())
        verifier.withLock { $0 = tokens }
        return tokens
    }

    // MARK: A client's blob

    /// Where a client's blob comes from.
    package enum BlobSource: Sendable {
        /// The tracker refused the client's credentials (or knows no such blob): its answer goes back as it came.
        case refused(RefusedAnswer)
        /// Straight from the origin: the tracker cannot be reached, or the blob is smaller than one piece.
        case direct
        /// From the cache or a fetch under way; read it with `stream(_:)`.
        case pieces(BlobFetch?, PieceList)
    }

    /// What to answer a client's GET of blob `digest` of `repository`, asking the tracker with the client's own
    /// credentials: that call is also the access check, for cached blobs too.
    package func blob(repository: String, digest: Digest, authorization: String?) async -> BlobSource {
        let key = digest.description
        let grant: PieceGrant
        do {
            switch try await client.grant(repository: repository, digest: key, authorization: authorization) {
            case .success(let granted): grant = granted
            case .failure(let refused) where [401, 403, 404].contains(refused.status): return .refused(refused)
            case .failure(let refused): throw OriginClient.Failure(status: refused.status, description: "the tracker refused")
            }
            guard grant.list.list.digest == key, grant.list.isSigned(by: try await tokenVerifier().publicKey) else {
                logger.error("the tracker sent a piece list that is not the registry's", metadata: ["digest": "\(key)"])
                return .direct
            }
        } catch {
            stats.trackerFailures.add(1, ordering: .relaxed)
            logger.warning("tracker unreachable: the origin serves", metadata: ["digest": "\(key)", "error": "\(error)"])
            return .direct
        }
        let list = grant.list.list
        guard list.pieces.count > 1 else { return .direct }
        remember(grant)
        if cache.beginReading(key) {
            if await checkCached(list) {
                stats.cacheHits.add(1, ordering: .relaxed)
                return .pieces(nil, list)
            }
            cache.endReading(key)
        }
        return .pieces(startOrJoin(grant, repository: repository, authorization: authorization), list)
    }

    /// A blob kept from before a restart is read through once against its digest before it is served again (the
    /// lazy re-check); one that fails is dropped, and fetched anew.
    private func checkCached(_ list: PieceList) async -> Bool {
        guard cache.isUnverified(list.digest) else { return true }
        let path = cache.path(list.digest)
        let sound =
            (try? await blockingIO {
                guard let file = try WharfStorage.FileDescriptor.openForReading(path), try file.size() == list.size else {
                    return false
                }
                var hasher = DigestHasher(try Digest(list.digest).algorithm)
                var offset: Int64 = 0
                while offset < list.size {
                    let chunk = try file.read(count: 1 << 20, at: offset, allocator: ByteBufferAllocator())
                    guard chunk.readableBytes > 0 else { return false }
                    chunk.withUnsafeReadableBytes { hasher.update($0) }
                    offset += Int64(chunk.readableBytes)
                }
                return hasher.finalize().description == list.digest
            }) ?? false
        if sound {
            cache.markVerified(list.digest)
        } else {
            logger.error("a cached blob failed its check after a restart: fetched anew", metadata: ["digest": "\(list.digest)"])
            cache.remove(list.digest)
        }
        return sound
    }

    private func remember(_ grant: PieceGrant) {
        let expires = Date().timeIntervalSince1970 + 280
        announceTokens.withLock { $0[grant.list.list.digest] = (grant.token, grant.list.list, expires) }
        cachedLists.withLock { $0[grant.list.list.digest] = grant.list.list }
    }

    /// The fetch of `grant`'s blob under way in this agent, or a new one (which this client's credentials start).
    private func startOrJoin(_ grant: PieceGrant, repository: String, authorization: String?) -> BlobFetch? {
        let digest = grant.list.list.digest
        let (fetch, isNew): (BlobFetch?, Bool) = fetches.withLock { fetches in
            if let fetch = fetches[digest] { return (fetch, false) }
            guard let file = try? WharfStorage.FileDescriptor.open(cache.partialPath(digest), flags: O_RDWR | O_CREAT | O_TRUNC)
            else {
                return (nil, false)
            }
            let fetch = BlobFetch(grant: grant, file: file)
            fetches[digest] = fetch
            return (fetch, true)
        }
        guard let fetch else { return nil }
        stats.cacheMisses.add(1, ordering: .relaxed)
        if isNew {
            let evicted = cache.reserve(grant.list.list.size)
            noteEvicted(evicted)
            Task {
                await self.download(fetch, repository: repository, authorization: authorization)
            }
        }
        return fetch
    }

    /// The fetch ended: its blob goes into the cache, or its partial file away.
    func finish(_ fetch: BlobFetch, error: (any Error)?) {
        let digest = fetch.list.digest
        if let error {
            fetch.fail(error)
            FileSystem.remove(cache.partialPath(digest))
            cache.cancelReservation(fetch.list.size)
            logger.error("blob fetch failed", metadata: ["digest": "\(digest)", "error": "\(error)"])
        } else {
            do {
                let list = try JSONEncoder().encode(fetch.grant.list)
                noteEvicted(try cache.admit(digest, size: fetch.list.size, list: list))
            } catch {
                cache.cancelReservation(fetch.list.size)
                logger.error("cannot keep a fetched blob", metadata: ["digest": "\(digest)", "error": "\(error)"])
            }
        }
        fetches.withLock { $0[digest] = nil }
    }

    private func noteEvicted(_ digests: [String]) {
        guard !digests.isEmpty else { return }
        stats.evictions.add(Int64(digests.count), ordering: .relaxed)
        cachedLists.withLock { lists in for digest in digests { lists[digest] = nil } }
        logger.info("evicted from the cache", metadata: ["digests": "\(digests.joined(separator: ","))"])
    }

    /// A fetch under way for `digest`, if any.
    func fetch(of digest: String) -> BlobFetch? { fetches.withLock { $0[digest] } }

    /// The list of a blob held here (fetched or cached), checking a list read from disk against the registry's key.
    func heldList(_ digest: String) async throws -> PieceList? {
        if let fetch = fetch(of: digest) { return fetch.list }
        guard cache.contains(digest) else { return nil }
        if let list = cachedLists.withLock({ $0[digest] }) { return list }
        let data = try Data(contentsOf: URL(fileURLWithPath: cache.listPath(digest)))
        let signed = try JSONDecoder().decode(SignedPieceList.self, from: data)
        guard signed.list.digest == digest, signed.isSigned(by: try await tokenVerifier().publicKey) else {
            cache.remove(digest)
            return nil
        }
        cachedLists.withLock { $0[digest] = signed.list }
        return signed.list
    }

    // MARK: Announcing cached blobs

    /// Tells the tracker about every cached blob this agent holds a valid piece token for (so, one a client of this
    /// node pulled within the token's life): peers can then fetch it here.
    package func announceCached() async {
        let now = Date().timeIntervalSince1970
        let due = announceTokens.withLock { tokens in
            tokens = tokens.filter { $0.value.expires > now }
            return tokens
        }
        for (digest, entry) in due where cache.contains(digest) && fetch(of: digest) == nil {
            try? await client.announce(
                Announcement(
                    token: entry.token, peer: id, address: settings.peerAddress, have: Array(entry.list.pieces.indices),
                    uploads: uploads.load(ordering: .relaxed), capacity: settings.uploadSlots, distrust: nil))
        }
    }
}
