import ArgumentParser
import WharfAuth

struct Certs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "TLS certificates for trying Wharf out.", subcommands: [SelfSigned.self])

    struct SelfSigned: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "self-signed",
            abstract: "Write a CA and a server certificate it signed (ca.pem, server.pem, server-key.pem).",
            discussion: """
                Serve with --tls-cert server.pem --tls-key server-key.pem and make clients trust ca.pem (the \
                README shows how for podman, skopeo, helm and oras). For production, use a certificate from your \
                own CA.
                """)

        @Option(name: .long, help: "A DNS name or IP address clients use; repeat for several.") var host: [String] = []
        @Option(name: .long, help: ArgumentHelp("Where to write the files.", valueName: "dir")) var out = "./certs"
        @Option(name: .long, help: "Days the certificates are valid.") var days = 365

        func run() async throws {
            let files = try SelfSignedCertificates.write(hosts: host, into: out, days: days)
            print("CA certificate (trust this): \(files.caCertificate)")
            print("server certificate:          \(files.certificate)")
            print("server key:                  \(files.key)")
        }
    }
}
