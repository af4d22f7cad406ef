import ArgumentParser
import Foundation

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

    @Option(name: .long, help: "The registry's base URL.")
    var url = "http://127.0.0.1:5000"

    @Flag(name: .long, help: "Only report what would be deleted.")
    var dryRun = false

    func run() async throws {
        guard let endpoint = URL(string: "\(url)/api/v1/gc?dryRun=\(dryRun)") else {
            throw ValidationError("invalid URL \(url)")
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
}
