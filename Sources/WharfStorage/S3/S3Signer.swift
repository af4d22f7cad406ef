import Crypto
import Foundation
import WharfCore

/// Access and secret key of an S3 account.
package struct S3Credentials: Sendable, Equatable {
    package let accessKey: String
    package let secretKey: String

    package init(accessKey: String, secretKey: String) {
        self.accessKey = accessKey
        self.secretKey = secretKey
    }
}

/// AWS Signature Version 4 for S3 requests, in the `Authorization` header. A body is signed by its SHA-256, or left
/// unsigned (`UNSIGNED-PAYLOAD`) when it streams: Wharf checks a blob's digest itself as it goes, and aws-chunked
/// signing would leave `Content-Encoding` on the object in RGW.
package struct S3Signer: Sendable {
    package static let unsignedPayload = "UNSIGNED-PAYLOAD"
    package static let emptyPayload = hash([])

    /// A payload's hash as the signature names it.
    package static func hash(_ bytes: [UInt8]) -> String { SHA256.hash(data: bytes).hex }

    let credentials: S3Credentials
    let region: String

    package init(credentials: S3Credentials, region: String) {
        self.credentials = credentials
        self.region = region
    }

    /// The headers to add to a request: `x-amz-date`, `x-amz-content-sha256` and `Authorization`. `path` is the
    /// request's path not yet percent-encoded, `query` its parameters, `headers` those it sends (all are signed).
    package func sign(
        method: String, host: String, path: String, query: [(String, String)], headers: [(String, String)],
        payloadHash: String, date: Date = Date()
    ) -> [(String, String)] {
        let (day, stamp) = Self.stamps(date)
        // Names in lower case; values trimmed, their runs of spaces made one, as SigV4 canonicalises them.
        var signed = headers.map { ($0.0.lowercased(), $0.1.split(separator: " ").joined(separator: " ")) }
        signed += [("host", host), ("x-amz-content-sha256", payloadHash), ("x-amz-date", stamp)]
        signed.sort { $0.0 < $1.0 }
        let names = signed.map(\.0).joined(separator: ";")
        let canonical = [
            method, Self.encodePath(path), Self.canonicalQuery(query),
            signed.map { "\($0.0):\($0.1)\n" }.joined(), names, payloadHash,
        ].joined(separator: "\n")
        let scope = "\(day)/\(region)/s3/aws4_request"
        let toSign = "AWS4-HMAC-SHA256\n\(stamp)\n\(scope)\n\(SHA256.hash(data: Array(canonical.utf8)).hex)"
        let signature = Self.hmac(signingKey(day), toSign).hexString
        return [
            ("x-amz-date", stamp), ("x-amz-content-sha256", payloadHash),
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=\(credentials.accessKey)/\(scope),SignedHeaders=\(names),Signature=\(signature)"
            ),
        ]
    }

    /// The query parameters that let anyone holding the URL `GET` `path` until `expires` from `date` (SigV4 query
    /// signing): no header but `host` is signed, so any client may follow it.
    package func presign(host: String, path: String, expires: Duration, date: Date = Date()) -> [(String, String)] {
        let (day, stamp) = Self.stamps(date)
        let scope = "\(day)/\(region)/s3/aws4_request"
        let query = [
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"), ("X-Amz-Credential", "\(credentials.accessKey)/\(scope)"),
            ("X-Amz-Date", stamp), ("X-Amz-Expires", String(expires.components.seconds)), ("X-Amz-SignedHeaders", "host"),
        ]
        let canonical = [
            "GET", Self.encodePath(path), Self.canonicalQuery(query), "host:\(host)\n", "host", Self.unsignedPayload,
        ].joined(separator: "\n")
        let toSign = "AWS4-HMAC-SHA256\n\(stamp)\n\(scope)\n\(SHA256.hash(data: Array(canonical.utf8)).hex)"
        return query + [("X-Amz-Signature", Self.hmac(signingKey(day), toSign).hexString)]
    }

    private func signingKey(_ day: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array("AWS4\(credentials.secretKey)".utf8))
        for part in [day, region, "s3", "aws4_request"] { key = SymmetricKey(data: Self.hmac(key, part)) }
        return key
    }

    /// The query string as sent and as signed: each name and value encoded, sorted by name then value.
    package static func canonicalQuery(_ query: [(String, String)]) -> String {
        query.map { (encode($0.0), encode($0.1)) }.sorted { $0 < $1 }.map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// A path as S3 signs it: every byte but the unreserved ones and `/` percent-encoded.
    package static func encodePath(_ path: String) -> String { encode(path, keeping: UInt8(ascii: "/")) }

    private static func encode(_ text: String, keeping kept: UInt8? = nil) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(byte))
            case kept: out.unicodeScalars.append(UnicodeScalar(byte))
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return out
    }

    private static func hmac(_ key: SymmetricKey, _ text: String) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key))
    }

    /// `yyyyMMdd` and `yyyyMMdd'T'HHmmss'Z'`, in UTC.
    private static func stamps(_ date: Date) -> (day: String, stamp: String) {
        let time = UTCTime(secondsSince1970: Int64(date.timeIntervalSince1970.rounded(.down)))
        var day: [UInt8] = []
        UTCTime.digits(time.year, 4, to: &day)
        UTCTime.digits(time.month, 2, to: &day)
        UTCTime.digits(time.day, 2, to: &day)
        var stamp = day + [UInt8(ascii: "T")]
        UTCTime.digits(time.hour, 2, to: &stamp)
        UTCTime.digits(time.minute, 2, to: &stamp)
        UTCTime.digits(time.second, 2, then: UInt8(ascii: "Z"), to: &stamp)
        return (String(decoding: day, as: UTF8.self), String(decoding: stamp, as: UTF8.self))
    }
}

extension Crypto.Digest {
    fileprivate var hex: String { Array(self).hexString }
}
