import Foundation
import NIOCore
import WharfCore
import WharfStorage

/// A chart uploaded the classic way (ChartMuseum's API): the `.tgz` and, optionally, its provenance file, each
/// streamed into an upload session as it arrives, the chart read on the way. Nothing is stored until `commit`,
/// which then writes what `helm push` writes: the chart layer, the provenance layer, the config blob and the manifest.
/// `abandon` leaves nothing behind.
public final class ChartUpload {
    /// A provenance file is a signed Chart.yaml digest: a few kilobytes.
    public static let maxProvenanceBytes: Int64 = 1 << 20

    private struct Received {
        let session: String
        let digest: Digest
        let size: Int64
    }

    private let registry: Registry
    private let namespace: RepositoryName
    private var chart: (received: Received, metadata: ChartMetadata)?
    private var provenance: Received?

    init(registry: Registry, namespace: RepositoryName) {
        self.registry = registry
        self.namespace = namespace
    }

    /// The chart's metadata, once its archive was received.
    public var metadata: ChartMetadata? { chart?.metadata }

    /// Streams the `.tgz` into a session while reading it; a broken chart throws a 400 saying what is wrong.
    public func receiveChart<Body: AsyncSequence>(_ body: Body) async throws where Body.Element == ByteBuffer {
        guard chart == nil else { throw ChartRepository.invalid("the upload holds two charts") }
        let reader = try ChartArchiveReader()
        var failure: ChartError?
        let received = try await receive(body) { buffer in
            // Keep storing after a broken archive: the error is reported once the body is in, not mid-request.
            guard failure == nil else { return }
            do {
                try buffer.withUnsafeReadableBytes { try reader.feed($0) }
            } catch {
                failure = error as? ChartError ?? ChartError("\(error)")
            }
        }
        do {
            if let failure { throw failure }
            chart = (received, try reader.finish())
        } catch let error as ChartError {
            await discard(received)
            throw ChartRepository.invalid(error.description)
        }
    }

    public func receiveProvenance<Body: AsyncSequence>(_ body: Body) async throws where Body.Element == ByteBuffer {
        guard provenance == nil else { throw ChartRepository.invalid("the upload holds two provenance files") }
        provenance = try await receive(body, limit: Self.maxProvenanceBytes) { _ in }
    }

    /// Stores the chart as the OCI artifact `<namespace>/<name>:<version>`. `mayPush` decides, once the name is
    /// known, whether the caller may write there. An existing version is a 409 unless `force`.
    package func commit(force: Bool, mayPush: (RepositoryName) -> Bool) async throws -> ChartRecord {
        guard let (received, metadata) = chart else {
            throw ChartRepository.invalid("the upload holds no chart (send the .tgz as the body, or as the form field 'chart')")
        }
        let repository: RepositoryName
        do {
            repository = try RepositoryName("\(namespace.value)/\(metadata.name)")
        } catch {
            throw ChartRepository.invalid(
                "the chart name '\(metadata.name)' cannot name an OCI repository: use lowercase letters, digits and separators")
        }
        guard mayPush(repository) else {
            throw RegistryError(.denied, status: 403, "no push access to \(repository.value)")
        }
        let repo = ChartRepository(registry: registry, namespace: namespace)
        if !force, try await repo.version(metadata.name, metadata.version) != nil {
            throw RegistryError(
                .denied, status: 409, "\(metadata.name)-\(metadata.version) already exists; add ?force to replace it")
        }
        try await registry.completeUpload(
            namespace, received.session, digest: received.digest, body: nil as EmptyBody?, linkingTo: repository)
        chart = nil
        let provenance = self.provenance
        if let provenance {
            try await registry.completeUpload(
                namespace, provenance.session, digest: provenance.digest, body: nil as EmptyBody?, linkingTo: repository)
            self.provenance = nil
        }
        let config = ChartArtifact.config(metadata)
        let configDigest = Digest.of(config)
        try await registry.uploadBlob(repository, digest: configDigest, body: [ByteBuffer(bytes: config)].async)
        let manifest = ChartArtifact.manifest(
            metadata, config: .init(digest: configDigest.description, size: Int64(config.count)),
            chartLayer: .init(digest: received.digest.description, size: received.size),
            provenance: provenance.map { .init(digest: $0.digest.description, size: $0.size) }, created: Date())
        // helm's tag for a version: `+` is not allowed in a tag, so `_` stands for it.
        let tag = try Tag(metadata.version.replacingOccurrences(of: "+", with: "_"))
        _ = try await registry.putManifest(
            repository, reference: .tag(tag), contentType: ChartArtifact.manifestMediaType, bytes: manifest)
        guard let record = try await repo.version(metadata.name, metadata.version) else {
            throw RegistryError.internalError("the chart was stored but is not in the index")
        }
        return record
    }

    /// Removes whatever was received and not committed.
    public func abandon() async {
        if let chart { await discard(chart.received) }
        if let provenance { await discard(provenance) }
        chart = nil
        provenance = nil
    }

    private func discard(_ received: Received) async {
        try? await registry.cancelUpload(namespace, received.session)
    }

    /// Streams `body` into a new session of the namespace, hashing it and showing each piece to `inspect`.
    private func receive<Body: AsyncSequence>(
        _ body: Body, limit: Int64? = nil, inspect: @escaping (ByteBuffer) -> Void
    ) async throws -> Received where Body.Element == ByteBuffer {
        let session = try await registry.startUpload(namespace)
        var hasher = DigestHasher(.sha256)
        var size: Int64 = 0
        let inspected = InspectedBody(base: body) { buffer in
            size += Int64(buffer.readableBytes)
            if let limit, size > limit {
                throw RegistryError.sizeInvalid("the provenance file exceeds \(limit) bytes", status: 413)
            }
            buffer.withUnsafeReadableBytes { hasher.update($0) }
            inspect(buffer)
        }
        do {
            _ = try await registry.appendUpload(namespace, session, start: nil, length: nil, body: inspected)
        } catch {
            try? await registry.cancelUpload(namespace, session)
            throw error
        }
        return Received(session: session, digest: hasher.finalize(), size: size)
    }
}

/// A body shown piece by piece to `inspect` as it streams by; `inspect` may refuse it by throwing.
private struct InspectedBody<Base: AsyncSequence>: AsyncSequence where Base.Element == ByteBuffer {
    let base: Base
    let inspect: (ByteBuffer) throws -> Void

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let inspect: (ByteBuffer) throws -> Void

        mutating func next() async throws -> ByteBuffer? {
            guard let buffer = try await base.next() else { return nil }
            try inspect(buffer)
            return buffer
        }
    }

    func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: base.makeAsyncIterator(), inspect: inspect) }
}

private typealias EmptyBody = AsyncStream<ByteBuffer>

extension Array where Element == ByteBuffer {
    /// The buffers as an async sequence, for a body already in memory.
    var async: AsyncStream<ByteBuffer> {
        AsyncStream { continuation in
            for buffer in self { continuation.yield(buffer) }
            continuation.finish()
        }
    }
}
