import Foundation
import Testing

@testable import WharfStorage

/// SigV4 against the example AWS documents for S3 (a ranged GET of `examplebucket/test.txt` on 2013-05-24).
@Suite struct S3SignerTests {
    @Test func theDocumentedExampleSignsTheSame() {
        let signer = S3Signer(
            credentials: .init(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            region: "us-east-1")
        let headers = signer.sign(
            method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/test.txt", query: [],
            headers: [("Range", " bytes=0-9  ")], payloadHash: S3Signer.emptyPayload,
            date: Date(timeIntervalSince1970: 1_369_353_600))
        #expect(
            headers.first { $0.0 == "Authorization" }?.1
                == "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
                + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
                + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        #expect(headers.first { $0.0 == "x-amz-date" }?.1 == "20130524T000000Z")
    }

    /// The presigned URL of the same documentation (a GET of `test.txt` for 86400 s), its parameters sorted.
    @Test func theDocumentedPresignedURLSignsTheSame() {
        let signer = S3Signer(
            credentials: .init(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            region: "us-east-1")
        let query = signer.presign(
            host: "examplebucket.s3.amazonaws.com", path: "/test.txt", expires: .seconds(86400),
            date: Date(timeIntervalSince1970: 1_369_353_600))
        #expect(
            S3Signer.canonicalQuery(query)
                == "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3"
                + "%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
                + "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
                + "&X-Amz-SignedHeaders=host")
    }

    @Test func pathsAndQueriesAreEncodedAsS3SignsThem() {
        #expect(S3Signer.encodePath("/b/a b/ü+%=&~.txt") == "/b/a%20b/%C3%BC%2B%25%3D%26~.txt")
        #expect(
            S3Signer.canonicalQuery([("uploads", ""), ("prefix", "a/b c"), ("max-keys", "2")])
                == "max-keys=2&prefix=a%2Fb%20c&uploads=")
    }

    @Test func s3TimesReadWithAndWithoutFractions() {
        #expect(S3Client.seconds("2013-05-24T00:00:00.500Z") == 1_369_353_600.5)
        #expect(S3Client.seconds("2013-05-24T00:00:00Z") == 1_369_353_600)
        #expect(S3Client.seconds("yesterday") == nil)
    }
}
