import NIOCore
import Synchronization
import WharfCore
import WharfStorage

/// One blob being fetched into the cache: its partial file, which of its pieces are in it (each checked against the
/// signed list before it counts), and the readers waiting for the next piece. Clients and peers read it while it
/// grows; the download that fills it is `Agent.download`.
package final class BlobFetch: Sendable {
    package let list: PieceList
    package let grant: PieceGrant
    let file: WharfStorage.FileDescriptor
    private let state: Mutex<State>
    /// Bytes of verified pieces received from the origin and from peers, which the agent reports to the tracker.
    let originBytes = Atomic<Int64>(0)
    let peerBytes = Atomic<Int64>(0)

    private struct State {
        var have: [Bool]
        var count = 0
        var waiters: [(piece: Int, continuation: CheckedContinuation<Void, any Error>)] = []
        var failure: (any Error)?
    }

    init(grant: PieceGrant, file: WharfStorage.FileDescriptor) {
        self.grant = grant
        list = grant.list.list
        self.file = file
        state = Mutex(State(have: Array(repeating: false, count: grant.list.list.pieces.count)))
    }

    package var isComplete: Bool { state.withLock { $0.count == $0.have.count } }
    package func has(_ piece: Int) -> Bool { state.withLock { $0.have.indices.contains(piece) && $0.have[piece] } }
    package var held: [Int] { state.withLock { $0.have.indices.filter { [have = $0.have] in have[$0] } } }

    /// Returns once piece `index` is in the file; throws when the fetch failed.
    package func waitFor(_ index: Int) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let ready: Result<Void, any Error>? = state.withLock { state in
                if let failure = state.failure { return .failure(failure) }
                if state.have[index] { return .success(()) }
                state.waiters.append((index, continuation))
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    /// Writes a piece that passed its check, and wakes its readers.
    func store(_ bytes: ByteBuffer, piece index: Int) throws {
        try bytes.withUnsafeReadableBytes { try file.write($0, at: list.range(of: index).lowerBound) }
        let woken = state.withLock { state in
            guard !state.have[index] else { return [CheckedContinuation<Void, any Error>]() }
            state.have[index] = true
            state.count += 1
            let woken = state.waiters.filter { $0.piece == index }.map(\.continuation)
            state.waiters.removeAll { $0.piece == index }
            return woken
        }
        for continuation in woken { continuation.resume() }
    }

    func fail(_ error: any Error) {
        let woken = state.withLock { state in
            state.failure = error
            defer { state.waiters = [] }
            return state.waiters.map(\.continuation)
        }
        for continuation in woken { continuation.resume(throwing: error) }
    }
}
