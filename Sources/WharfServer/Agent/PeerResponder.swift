import Hummingbird
import NIOCore
import WharfCore
import WharfP2P

/// The agent's peer port: `GET /p2p/v1/blobs/DIGEST/pieces/INDEX` with a piece token, and nothing else.
struct PeerResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let agent: Agent

    func respond(to request: Request, context: Context) async throws -> Response {
        let parts = request.uri.path.split(separator: "/", omittingEmptySubsequences: false)
        guard request.method == .get, parts.count == 7, parts[1] == "p2p", parts[2] == "v1", parts[3] == "blobs",
            parts[5] == "pieces", let index = Int(parts[6]), let digest = try? Digest(parts[4])
        else {
            return RegistryError(.unsupported, status: 404, "an agent's peer port serves pieces only").response(
                includeBody: true)
        }
        do {
            let bytes = try await agent.piece(index, of: digest.description, authorization: request.headers[.authorization])
            return Response(
                status: .ok, headers: [.contentType: "application/octet-stream", .contentLength: String(bytes.readableBytes)],
                body: .init(byteBuffer: bytes))
        } catch let refusal as Agent.PieceRefusal {
            let error =
                switch refusal {
                case .noToken: RegistryError(.unauthorized, status: 401, "a piece token is required")
                case .badToken: RegistryError(.denied, status: 403, "the piece token is not valid for this blob")
                case .notHeld: RegistryError(.blobUnknown, status: 404, "this agent does not hold that piece")
                case .busy: RegistryError(.tooManyRequests, status: 503, "every upload slot is busy")
                }
            return error.response(includeBody: true)
        }
    }
}
