import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import WharfCore
import WharfStorage

/// The management API under `/api/v1/` (admin-only once access control exists):
///
///     POST   /api/v1/gc[?dryRun=true]            garbage collection now
///     GET    /api/v1/keys                        which master key wraps how many data keys
///     POST   /api/v1/keys/rotate[?newKey=false]  re-wrap every data key with a new (or the current) active key
///     DELETE /api/v1/keys/<id>                   retire a master key that wraps nothing
///     POST   /api/v1/keys/encrypt-existing       encrypt blobs stored in plain text, in place
struct AdminAPI: Sendable {
    let registry: Registry
    let metrics: RegistryMetrics
    let gcGrace: Duration

    /// nil when the endpoint is not one of this API's; the method has been checked against `ServerEndpoint`.
    func respond(to request: Request, endpoint: ServerEndpoint, parameter: String?) async throws -> Response? {
        switch endpoint {
        case .gc:
            let report = try await registry.collectGarbage(
                grace: gcGrace, dryRun: try flag(request, "dryRun", default: false))
            metrics.recordGarbageCollection(report)
            return try Self.json(report)
        case .keys:
            return try Self.json(try await registry.keyStatus())
        case .keysRotate:
            return try Self.json(try await registry.rotateKeys(newKey: try flag(request, "newKey", default: true)))
        case .keysEncryptExisting:
            return try Self.json(try await registry.encryptExisting())
        case .key:
            let id = parameter ?? ""
            // Key ids are lower-case hex, as minted.
            guard !id.isEmpty, id.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
                throw RegistryError(.unsupported, status: 404, "no such key", detail: String(id.prefix(64)))
            }
            try await registry.retireKey(id)
            return Response(status: .noContent)
        default:
            return nil
        }
    }

    /// `true`/`1` or `false`/`0`; anything else is refused rather than read as false.
    private func flag(_ request: Request, _ name: String, default value: Bool) throws(RegistryError) -> Bool {
        guard let text = request.uri.queryParameters[name[...]] else { return value }
        switch text {
        case "true", "1": return true
        case "false", "0": return false
        default:
            throw RegistryError(
                .unsupported, status: 400, "query parameter \(name) must be true or false", detail: String(text.prefix(50)))
        }
    }

    static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = try encoder.encode(value)
        return Response(
            status: .ok, headers: DistributionAPI.jsonHeaders(length: body.count),
            body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
