import ArgumentParser
import Foundation
import WharfServer

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Where the management commands find the running server.
struct ServerOptions: ParsableArguments {
    @OptionGroup var store: StoreOptions

    @Option(name: .long, help: "The registry's base URL (default: the first listen address of the configuration).")
    var url: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "An admin's credentials when access control is on (default: WHARF_CREDS).", valueName: "user:password"))
    var creds: String?

    /// The registry's base URL: `--url`, or the configuration's first listen address.
    func baseURL() throws -> String {
        let configuration = try store.configuration()
        return url ?? configuration.listen.first.map { Self.localURL(listen: $0) }
            ?? Self.localURL(listen: configuration.tlsListen[0], scheme: "https")
    }

    /// Sends one request to the management API; returns the body of a 2xx answer. Failures print one line and exit
    /// with `ServerFailure`'s status.
    func send(_ method: String, _ path: String, json body: Data? = nil) async throws -> Data {
        let base = try baseURL()
        guard let endpoint = URL(string: base + path) else { throw ValidationError("invalid URL \(base)") }
        var request = URLRequest(url: endpoint)
        request.httpMethod = method
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        request.timeoutInterval = 24 * 3600  // a rotation or encryption of a large store takes a while
        if let credentials = creds ?? ProcessInfo.processInfo.environment["WHARF_CREDS"] {
            request.setValue("Basic " + Data(credentials.utf8).base64EncodedString(), forHTTPHeaderField: "Authorization")
        }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw ServerFailure.unreachable(base, error)
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else { throw ServerFailure.refused(base, status: status, body: data) }
        return data
    }

    /// `0.0.0.0:5000` → `http://127.0.0.1:5000`: a wildcard listen address is reached on loopback.
    static func localURL(listen: String, scheme: String = "http") -> String {
        let port = listen.split(separator: ":").last.map(String.init) ?? "5000"
        let host = listen.dropLast(port.count + 1)
        let reachable = ["", "0.0.0.0", "[::]"].contains(host) ? "127.0.0.1" : String(host)
        return "\(scheme)://\(reachable):\(port)"
    }
}

/// Why a command that calls the server failed, as one line and a documented exit status:
/// 3 the registry cannot be reached, 4 credentials missing or wrong, 5 the caller is not an admin, 6 any other error
/// answer.
enum ServerFailure: Error, CustomStringConvertible {
    case unreachable(String, any Error)
    case refused(String, status: Int, body: Data)

    var exitCode: Int32 {
        switch self {
        case .unreachable: 3
        case .refused(_, 401, _): 4
        case .refused(_, 403, _): 5
        case .refused: 6
        }
    }

    var description: String {
        switch self {
        case .unreachable(let base, let error):
            return "cannot reach the registry at \(base): \(Self.reason(error)) (is wharf serve running? --url/--config)"
        case .refused(let base, 401, _):
            return "the registry at \(base) wants credentials: they are missing or wrong (--creds user:password or WHARF_CREDS)"
        case .refused(let base, 403, _):
            return "the registry at \(base) refused: these credentials lack admin on ** (the management API needs it)"
        case .refused(let base, let status, let body):
            return "the registry at \(base) answered \(status): \(Self.message(body))"
        }
    }

    /// A URL error in words, not Foundation's dump.
    private static func reason(_ error: any Error) -> String {
        guard let error = error as? URLError else { return "\(error.localizedDescription)" }
        switch error.code {
        case .cannotConnectToHost: return "connection refused"
        case .cannotFindHost, .dnsLookupFailed: return "host not found"
        case .timedOut: return "timed out"
        case .networkConnectionLost: return "the connection was lost"
        case .notConnectedToInternet: return "no network"
        case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate,
            .serverCertificateHasUnknownRoot, .serverCertificateNotYetValid, .clientCertificateRejected:
            return "the TLS handshake failed (is the CA trusted? --url with the right scheme?)"
        case .unsupportedURL, .badURL: return "unsupported URL"
        default: return "network error \(error.code.rawValue)"
        }
    }

    /// The first error's message and detail of an OCI error body, else the body's start.
    private static func message(_ body: Data) -> String {
        struct Errors: Decodable {
            struct Entry: Decodable {
                let code: String
                let message: String
                let detail: String?
            }
            let errors: [Entry]
        }
        if let first = (try? JSONDecoder().decode(Errors.self, from: body))?.errors.first {
            return "\(first.code): \(first.message)" + (first.detail.map { " (\($0))" } ?? "")
        }
        return String(decoding: body.prefix(300), as: UTF8.self)
    }
}
