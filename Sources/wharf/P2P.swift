import ArgumentParser
import Foundation

struct P2P: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "p2p",
        abstract: "Drive peer-to-peer distribution on a running server.",
        subcommands: [Preheat.self]
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
}
