import Logging
import NIOCore
import Synchronization
import WharfCore
import WharfStorage

extension Agent {
    /// Why a peer gets no piece.
    package enum PieceRefusal: Error, Equatable {
        /// 401: no piece token.
        case noToken
        /// 403: a token this registry did not sign, an expired one, or one for another blob.
        case badToken
        /// 404: this agent does not hold that piece.
        case notHeld
        /// 503: every upload slot is busy; the peer asks another.
        case busy
    }

    /// Piece `index` of blob `digest` for a peer, against its piece token (`Authorization: Bearer …`), checked with
    /// the registry's public key and nothing else. Every piece is checked against its list before it leaves, so a
    /// cache file damaged on disk is found here and dropped.
    package func piece(_ index: Int, of digest: String, authorization: String?) async throws -> ByteBuffer {
        guard let authorization, authorization.hasPrefix("Bearer ") else {
            stats.refused.add(1, ordering: .relaxed)
            throw PieceRefusal.noToken
        }
        do {
            _ = try await tokenVerifier().verify(String(authorization.dropFirst(7)), for: digest)
        } catch {
            stats.refused.add(1, ordering: .relaxed)
            throw PieceRefusal.badToken
        }
        guard let list = try await heldList(digest), list.pieces.indices.contains(index) else {
            throw PieceRefusal.notHeld
        }
        let fetch = fetch(of: digest)
        if let fetch, !fetch.has(index) { throw PieceRefusal.notHeld }
        guard uploads.wrappingAdd(1, ordering: .relaxed).newValue <= settings.uploadSlots else {
            uploads.wrappingSubtract(1, ordering: .relaxed)
            throw PieceRefusal.busy
        }
        defer { uploads.wrappingSubtract(1, ordering: .relaxed) }
        let range = list.range(of: index)
        let file: WharfStorage.FileDescriptor
        if let fetch {
            file = fetch.file
        } else if let opened = try WharfStorage.FileDescriptor.openForReading(cache.path(digest)) {
            file = opened
        } else {
            throw PieceRefusal.notHeld
        }
        var bytes = try await blockingIO {
            try file.read(count: Int(range.count), at: range.lowerBound, allocator: ByteBufferAllocator())
        }
        guard bytes.withUnsafeReadableBytes({ list.verify($0, piece: index) }) else {
            logger.error("a cached piece failed its check: the blob is dropped", metadata: ["digest": "\(digest)"])
            cache.remove(digest)
            throw PieceRefusal.notHeld
        }
        if settings.corruptServedPieces, let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) {
            bytes.setInteger(first ^ 0xff, at: bytes.readerIndex)
        }
        stats.servedToPeersBytes.add(Int64(bytes.readableBytes), ordering: .relaxed)
        return bytes
    }

    /// A client's bytes of a blob in order, each as soon as its piece is in: from the cache, or from a fetch under
    /// way. The whole is checked against its digest before the last bytes go out; a cached blob that fails is dropped.
    package func stream(_ fetch: BlobFetch?, _ list: PieceList) throws -> VerifiedBlobStream {
        let file: WharfStorage.FileDescriptor
        if let fetch {
            file = fetch.file
        } else {
            guard let opened = try WharfStorage.FileDescriptor.openForReading(cache.path(list.digest)) else {
                cache.endReading(list.digest)
                throw RegistryError.blobUnknown(list.digest)
            }
            file = opened
        }
        let hold = fetch == nil ? CacheHold(cache: cache, digest: list.digest) : nil
        return VerifiedBlobStream(list: list, file: file, fetch: fetch, hold: hold, stats: stats) { [cache] in
            if fetch == nil { cache.remove(list.digest) }
        }
    }
}

/// Keeps a cached blob from eviction while a client reads it.
final class CacheHold: Sendable {
    let cache: BlobCache
    let digest: String

    init(cache: BlobCache, digest: String) {
        self.cache = cache
        self.digest = digest
    }

    deinit { cache.endReading(digest) }
}

/// See `Agent.stream(_:_:)`.
package struct VerifiedBlobStream: AsyncSequence, Sendable {
    package typealias Element = ByteBuffer
    let list: PieceList
    let file: WharfStorage.FileDescriptor
    let fetch: BlobFetch?
    let hold: CacheHold?
    let stats: AgentStats
    let onDamaged: @Sendable () -> Void

    package struct AsyncIterator: AsyncIteratorProtocol {
        let stream: VerifiedBlobStream
        var offset: Int64 = 0
        var hasher: DigestHasher

        package mutating func next() async throws -> ByteBuffer? {
            let list = stream.list
            guard offset < list.size else { return nil }
            let piece = Int(offset / list.pieceSize)
            if let fetch = stream.fetch { try await fetch.waitFor(piece) }
            let count = Int(Swift.min(Int64(1 << 20), list.range(of: piece).upperBound - offset))
            let file = stream.file
            let at = offset
            let chunk = try await blockingIO { try file.read(count: count, at: at, allocator: ByteBufferAllocator()) }
            guard chunk.readableBytes == count else { throw RegistryError.internalError("the cached blob ends early") }
            chunk.withUnsafeReadableBytes { hasher.update($0) }
            offset += Int64(count)
            if offset == list.size, hasher.finalize().description != list.digest {
                stream.onDamaged()
                throw RegistryError.digestInvalid("the blob's bytes are not \(list.digest)")
            }
            stream.stats.servedToClientsBytes.add(Int64(count), ordering: .relaxed)
            return chunk
        }
    }

    package func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(stream: self, hasher: DigestHasher((try? Digest(list.digest))?.algorithm ?? .sha256))
    }
}
