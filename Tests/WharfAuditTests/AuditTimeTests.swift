import Testing

@testable import WharfAudit

@Suite struct AuditTimeTests {
    @Test func parsesTheThreeForms() {
        #expect(AuditTime.parse("2026-11-23") == 1_795_392_000_000)
        #expect(AuditTime.parse("2026-11-23T02:10:56Z") == 1_795_399_856_000)
        #expect(AuditTime.parse("2026-11-23T02:10:56.123Z") == 1_795_399_856_123)
        #expect(AuditTime.parse("2026-11-23T02:10:56.5Z") == 1_795_399_856_500)
        #expect(AuditTime.parse("2026-11-23T02:10:56.123456789Z") == 1_795_399_856_123)
        #expect(AuditTime.parse(AuditTime.format(1_795_399_856_123)) == 1_795_399_856_123)
    }

    /// Each of these once trapped on an integer conversion, or was taken for another time.
    @Test func refusesOutOfRangeAndOverlongFields() {
        for text in [
            "99999999999-01-01T00:00:00Z", "2026-01-01T00:00:00.9223372036854775807Z", "2026-01-01T99999999999:00:00Z",
            "2026-13-01", "2026-00-10", "2026-01-32", "2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z", "+2026-01-01",
            "2026-1-01", "2026-01-01T00:00:00", "2026-01-01T00:00Z", "", "Z",
            "2026-01-01T00:00:00.1234567890Z", "２０２６-01-01",
        ] {
            #expect(AuditTime.parse(text) == nil, "\(text)")
        }
    }
}
