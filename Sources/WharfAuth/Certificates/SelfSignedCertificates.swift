import Crypto
import Foundation
import SwiftASN1
import X509

/// A throwaway CA and a server certificate it signed, for trying TLS out (`wharf certs self-signed`).
public enum SelfSignedCertificates {
    public struct Files: Sendable {
        public let caCertificate: String
        public let certificate: String
        public let key: String
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Writes `ca.pem` (trust this), `server.pem` and `server-key.pem` (give these to `wharf serve`) into
    /// `directory`. `hosts` are DNS names or IP addresses; the certificate is valid for all of them.
    public static func write(hosts: [String], into directory: String, days: Int = 365) throws -> Files {
        guard !hosts.isEmpty else { throw Failure(description: "name at least one --host") }
        let now = Date()
        let notBefore = now.addingTimeInterval(-3600)
        let notAfter = now.addingTimeInterval(Double(days) * 86400)

        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName {
            OrganizationName("Wharf")
            CommonName("Wharf self-signed CA")
        }
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey), notValidBefore: notBefore,
            notValidAfter: notAfter, issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
            }, issuerPrivateKey: .init(caKey))

        let serverKey = P256.Signing.PrivateKey()
        let names = try hosts.map(generalName)
        let server = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(serverKey.publicKey), notValidBefore: notBefore,
            notValidAfter: notAfter, issuer: caName,
            subject: try DistinguishedName {
                OrganizationName("Wharf")
                CommonName(hosts[0])
            }, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth])
                SubjectAlternativeNames(names)
            }, issuerPrivateKey: .init(caKey))

        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let files = Files(
            caCertificate: directory + "/ca.pem", certificate: directory + "/server.pem", key: directory + "/server-key.pem")
        try write(try ca.serializeAsPEM().pemString, to: files.caCertificate, mode: 0o644)
        try write(try server.serializeAsPEM().pemString, to: files.certificate, mode: 0o644)
        try write(serverKey.pemRepresentation, to: files.key, mode: 0o600)
        return files
    }

    private static func generalName(_ host: String) throws -> GeneralName {
        if let bytes = ipAddressBytes(host) { return .ipAddress(ASN1OctetString(contentBytes: ArraySlice(bytes))) }
        guard !host.isEmpty, host.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "/") }) else {
            throw Failure(description: "'\(host)' is not a host name or IP address")
        }
        return .dnsName(host)
    }

    private static func ipAddressBytes(_ text: String) -> [UInt8]? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    private static func write(_ text: String, to path: String, mode: Int) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: mode])
        else { throw Failure(description: "cannot write \(path)") }
    }
}
