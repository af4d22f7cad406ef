import ArgumentParser
import Foundation
import WharfServer

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

struct GC: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Collect garbage now, on a running server.",
        discussion: """
            Asks the server at --url to delete blobs that no manifest of any repository references and that nobody \
            stored, linked or looked at within the grace period (gc.grace, WHARF_GC_GRACE; 1h by default). It runs \
            online: pushes and pulls go on. The server also collects on its own every gc.interval.
            """
    )

    @OptionGroup var store: StoreOptions

    @Option(name: .long, help: "The registry's base URL (default: the first listen address of the configuration).")
    var url: String?

    @Flag(name: .long, help: "Only report what would be deleted.")
    var dryRun = false

    func run() async throws {
        let base = try url ?? Self.localURL(listen: store.configuration().listen[0])
        guard let endpoint = URL(string: "\(base)/api/v1/gc?dryRun=\(dryRun)") else {
            throw ValidationError("invalid URL \(base)")
        }
        var request = URLRequest(url: endpoint)
        request.httpMethod = "POST"
        let (data, response) = try await URLSession.shared.data(for: request)
        guard let status = (response as? HTTPURLResponse)?.statusCode, status == 200 else {
            throw ValidationError("the server answered: \(String(decoding: data, as: UTF8.self))")
        }
        struct Report: Decodable {
            let dryRun: Bool
            let blobs: Int
            let bytes: Int64
            let digests: [String]
        }
        let report = try JSONDecoder().decode(Report.self, from: data)
        for digest in report.digests { print("\(report.dryRun ? "would delete" : "deleted"): \(digest)") }
        print("gc: \(report.dryRun ? "would free" : "freed") \(report.blobs) blobs, \(report.bytes) bytes")
    }

    /// `0.0.0.0:5000` → `http://127.0.0.1:5000`: a wildcard listen address is reached on loopback.
    static func localURL(listen: String) -> String {
        let port = listen.split(separator: ":").last.map(String.init) ?? "5000"
        let host = listen.dropLast(port.count + 1)
        let reachable = ["", "0.0.0.0", "[::]"].contains(host) ? "127.0.0.1" : String(host)
        return "http://\(reachable):\(port)"
    }
}
