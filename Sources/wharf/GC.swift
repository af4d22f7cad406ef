import ArgumentParser
import Foundation

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

    @OptionGroup var server: ServerOptions

    @Flag(name: .long, help: "Only report what would be deleted.")
    var dryRun = false

    func run() async throws {
        struct Report: Decodable {
            let dryRun: Bool
            let blobs: Int
            let bytes: Int64
            let digests: [String]
        }
        let report = try JSONDecoder().decode(
            Report.self, from: try await server.send("POST", "/api/v1/gc?dryRun=\(dryRun)"))
        for digest in report.digests { print("\(report.dryRun ? "would delete" : "deleted"): \(digest)") }
        print("gc: \(report.dryRun ? "would free" : "freed") \(report.blobs) blobs, \(report.bytes) bytes")
    }
}
