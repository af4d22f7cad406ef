import Testing

@testable import WharfCore

@Suite struct ByteRangeTests {
    @Test func parsesEveryForm() {
        #expect(ByteRange.parse(nil, size: 10) == .whole)
        #expect(ByteRange.parse("bytes=0-4", size: 10) == .range(ByteRange(start: 0, end: 4)))
        #expect(ByteRange.parse("bytes=5-", size: 10) == .range(ByteRange(start: 5, end: 9)))
        #expect(ByteRange.parse("bytes=-3", size: 10) == .range(ByteRange(start: 7, end: 9)))
        #expect(ByteRange.parse("bytes=-30", size: 10) == .range(ByteRange(start: 0, end: 9)))
        #expect(ByteRange.parse("bytes=8-100", size: 10) == .range(ByteRange(start: 8, end: 9)))
        #expect(ByteRange.parse("bytes=9-9", size: 10) == .range(ByteRange(start: 9, end: 9)))
    }

    @Test func unsatisfiableAndMalformed() {
        for header in ["bytes=10-", "bytes=10-20", "bytes=5-2", "bytes=-0", "bytes=abc", "bytes=1-x", "bytes=", "bytes=--1"] {
            #expect(ByteRange.parse(header, size: 10) == .unsatisfiable, "\(header)")
        }
        #expect(ByteRange.parse("bytes=-1", size: 0) == .unsatisfiable)
    }

    @Test func otherUnitsAndMultipleRangesServeTheWholeBody() {
        #expect(ByteRange.parse("items=0-1", size: 10) == .whole)
        #expect(ByteRange.parse("bytes=0-1,4-5", size: 10) == .whole)
    }
}
