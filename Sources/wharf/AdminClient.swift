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

    /// Sends one request to the management API; returns the body of a 2xx answer.
    func send(_ method: String, _ path: String) async throws -> Data {
        let configuration = try store.configuration()
        let base =
            url ?? configuration.listen.first.map { Self.localURL(listen: $0) }
            ?? Self.localURL(listen: configuration.tlsListen[0], scheme: "https")
        guard let endpoint = URL(string: base + path) else { throw ValidationError("invalid URL \(base)") }
        var request = URLRequest(url: endpoint)
        request.httpMethod = method
        request.timeoutInterval = 24 * 3600  // a rotation or encryption of a large store takes a while
        if let credentials = creds ?? ProcessInfo.processInfo.environment["WHARF_CREDS"] {
            request.setValue("Basic " + Data(credentials.utf8).base64EncodedString(), forHTTPHeaderField: "Authorization")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        guard let status = (response as? HTTPURLResponse)?.statusCode, (200..<300).contains(status) else {
            throw ValidationError("the server answered: \(String(decoding: data, as: UTF8.self))")
        }
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
