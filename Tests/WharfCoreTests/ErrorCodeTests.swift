import Testing
import WharfCore

@Suite struct ErrorCodeTests {
    /// The distribution spec's list: "The code field MUST be one of the following" (for 4xx error bodies).
    static let specCodes: Set<String> = [
        "BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID", "MANIFEST_BLOB_UNKNOWN",
        "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID", "NAME_UNKNOWN", "SIZE_INVALID", "UNAUTHORIZED", "DENIED",
        "UNSUPPORTED", "TOOMANYREQUESTS",
    ]

    /// Every code the server can emit is a case of `Code` (nothing else can be put in an error), so enumerating the
    /// cases enumerates them all.
    @Test func everyCodeIsTheSpecsOrOnlyEverAServerFailure() {
        let codes = RegistryError.Code.allCases
        #expect(Set(codes.filter(\.isSpecCode).map(\.rawValue)) == Self.specCodes)
        #expect(Set(codes.filter { !$0.isSpecCode }) == [.internalError, .storageFull])
    }

    @Test func theFactoriesAnswerWithSpecCodesBelow500() {
        let errors: [RegistryError] = [
            .blobUnknown("d"), .blobUploadUnknown("u"), .blobUploadInvalid("m"), .blobUploadInvalid("m", status: 416),
            .digestInvalid("m"), .manifestInvalid("m"), .manifestUnknown("r"), .manifestBlobUnknown("d"), .nameInvalid("m"),
            .nameUnknown("n"), .sizeInvalid("m"), .sizeInvalid("m", status: 413), .unsupported("m"),
            .unsupported("m", status: 400), .internalError("m"), .storageFull,
        ]
        for error in errors {
            if error.httpStatus < 500 {
                #expect(Self.specCodes.contains(error.code.rawValue), "\(error)")
            } else {
                #expect(!error.code.isSpecCode, "\(error)")
            }
        }
        #expect(RegistryError.storageFull.httpStatus == 507 && RegistryError.internalError("m").httpStatus == 500)
    }
}
