import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import WharfCore

/// The one place where registry errors become HTTP: the spec's JSON error body with the error's status.
extension RegistryError: HTTPResponseError {
    public var status: HTTPResponse.Status { .init(code: httpStatus) }

    private struct Body: Encodable {
        struct Entry: Encodable {
            let code: String
            let message: String
            let detail: String?
        }
        let errors: [Entry]
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        response(includeBody: request.method != .head)
    }

    func response(includeBody: Bool) -> Response {
        // Sorted keys: the same error reads the same, byte for byte (a refused caller learns nothing from the order).
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json =
            (try? encoder.encode(Body(errors: [.init(code: code.rawValue, message: message, detail: detail)]))) ?? Data()
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        headers[.contentLength] = String(json.count)
        return Response(
            status: .init(code: httpStatus), headers: headers,
            body: includeBody ? .init(byteBuffer: ByteBuffer(bytes: json)) : .init())
    }
}
