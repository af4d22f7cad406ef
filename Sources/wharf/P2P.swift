import ArgumentParser
import Foundation
import WharfP2P

struct P2P: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "p2p",
        abstract: "Drive peer-to-peer distribution on a running server.",
        subcommands: [Preheat.self, Simulate.self]
    )

    struct Preheat: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Have the seeder agents fetch an image now, ahead of its pulls.",
            discussion: "REPO:TAG or REPO@DIGEST; admin credentials with --creds or WHARF_CREDS when access control is on."
        )
        @OptionGroup var server: ServerOptions
        @Argument(help: "The image, e.g. team/app:v1.") var image: String

        func run() async throws {
            let (repository, reference) = try Self.split(image)
            let body = try JSONEncoder().encode(["repository": repository, "reference": reference])
            let data = try await server.send("POST", "/api/v1/p2p/preheat", json: body)
            struct Job: Decodable {
                let id: Int
                let digest: String
                let blobs: [String]
            }
            let job = try JSONDecoder().decode(Job.self, from: data)
            print("preheat #\(job.id): \(repository)@\(job.digest), \(job.blobs.count) blobs")
        }

        static func split(_ image: String) throws -> (String, String) {
            if let at = image.firstIndex(of: "@") { return (String(image[..<at]), String(image[image.index(after: at)...])) }
            if let colon = image.lastIndex(of: ":"), !image[colon...].contains("/") {
                return (String(image[..<colon]), String(image[image.index(after: colon)...]))
            }
            throw ValidationError("name the image as REPO:TAG or REPO@DIGEST")
        }
    }

    struct Simulate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Simulate many agents pulling one blob at once, with the real tracker and schedulers.",
            discussion: """
                Runs in this process over modelled links (no sockets): how the origin's egress and the time to \
                finish grow with the number of agents. See docs/benchmarks.md.
                """
        )
        @Option(help: "Agent counts, comma-separated.") var agents = "64,256,1000"
        @Option(help: "The blob's size.") var size = "1GiB"
        @Option(help: "Piece size.") var pieceSize = "4MiB"
        @Option(help: "Each agent's uplink and downlink, Gbit/s.") var linkGbps = 1.0
        @Option(help: "The origin's uplink, Gbit/s.") var originGbps = 10.0
        @Option(help: "Seconds over which the agents start (0: at once).") var spread = 0.0
        @Option(help: "Peers each agent is offered per plan (K).") var peers = 16
        @Option(help: "Pieces each agent fetches at once (M).") var piecesInFlight = 8
        @Option(help: "Pieces each agent sends to peers at once.") var uploadSlots = 8

        func run() async throws {
            guard let bytes = AgentSettings.parseSize(size), let piece = AgentSettings.parseSize(pieceSize), piece > 0
            else { throw ValidationError("--size and --piece-size take sizes such as 1GiB and 4MiB") }
            let counts = agents.split(separator: ",").compactMap { Int($0) }
            guard !counts.isEmpty, counts.allSatisfy({ $0 > 0 }) else { throw ValidationError("--agents: e.g. 64,256") }
            guard peers > 0, piecesInFlight > 0, uploadSlots > 0 else {
                throw ValidationError("--peers, --pieces-in-flight and --upload-slots must be at least 1")
            }
            let link = linkGbps * 1e9 / 8
            print(
                "blob \(size) in \(pieceSize) pieces; links \(linkGbps) Gbit/s; origin \(originGbps) Gbit/s; "
                    + "\(peers) peers, \(piecesInFlight) in flight, \(uploadSlots) upload slots")
            print(String(format: "one agent alone from the origin at its link speed: %.1f s", Double(bytes) / link))
            print("| agents | p50 s | p99 s | last s | origin egress ×blob | from peers |")
            print("|---:|---:|---:|---:|---:|---:|")
            for count in counts {
                var settings = SwarmSimulation.Settings(agents: count, blobBytes: bytes)
                settings.pieceBytes = piece
                settings.linkBytesPerSecond = link
                settings.originBytesPerSecond = originGbps * 1e9 / 8
                settings.startSpread = spread
                settings.peerLimit = peers
                settings.piecesInFlight = piecesInFlight
                settings.uploadSlots = uploadSlots
                var simulation = SwarmSimulation(settings)
                let result = simulation.run()
                let total = Double(result.originBytes + result.peerBytes)
                print(
                    String(
                        format: "| %d | %.1f | %.1f | %.1f | %.2f | %.1f%% |", count, result.percentile(0.5),
                        result.percentile(0.99), result.completions.last ?? 0, Double(result.originBytes) / Double(bytes),
                        100 * Double(result.peerBytes) / total))
            }
        }
    }
}
