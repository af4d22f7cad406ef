import Foundation
import Testing
import Yams

@testable import WharfHelm

/// index.yaml is written without Yams' encoder: what it writes must read back, through a YAML parser, as exactly the
/// values it was given, whatever a chart's strings hold.
@Suite struct BlockYAMLTests {
    static let awkward = [
        "yes", "No", "on", "y", "null", "~", "true", "1.0", "0x1F", "1e3", "2026-12-04", "", " lead", "trail ",
        "a: b", "a #b", "#c", "- d", "[e]", "{f}", "&g", "*h", "!i", "%j", "@k", "`l", "'m'", "\"n\"", "o\\p",
        "line\nbreak", "tab\there", "\u{1}\u{7F}\u{85}\u{2028}\u{FEFF}", "émoji 🚢", "<&>", "|", ">", "?", ":",
        "plain-name_1.2/x", ".inf", "-.5", "=",
    ]

    @Test func awkwardStringsReadBackAsThemselves() throws {
        let document = GoJSON.Value.object(
            Self.awkward.enumerated().map { i, text in (text.isEmpty ? "(empty)" : text, .string(text + "\(i)")) } + [
                ("list", .array(Self.awkward.map(GoJSON.Value.string))),
                ("nested", .array([.array([.string("x"), .object([("k", .string("v"))])]), .object([])])),
                ("empty", .array([])), ("flag", .bool(false)), ("count", .number(-3)),
            ])
        let yaml = String(decoding: BlockYAML.emit(document), as: UTF8.self)
        let read = try #require(try Yams.load(yaml: yaml) as? [String: Any], "\(yaml)")
        for (i, text) in Self.awkward.enumerated() {
            #expect(read[text.isEmpty ? "(empty)" : text] as? String == text + "\(i)", "\(text)")
        }
        #expect(read["list"] as? [String] == Self.awkward)
        let nested = try #require(read["nested"] as? [Any])
        #expect((nested[0] as? [Any])?.first as? String == "x")
        #expect(((nested[0] as? [Any])?.last as? [String: String]) == ["k": "v"])
        #expect((nested[1] as? [String: Any])?.isEmpty == true)
        #expect((read["empty"] as? [Any])?.isEmpty == true)
        #expect(read["flag"] as? Bool == false && read["count"] as? Int == -3)
    }

    @Test func timestampsAreTheFormattersToTheNanosecond() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withFullTime, .withTimeZone]
        var random = SystemRandomNumberGenerator()
        let instants: [Double] =
            [0, -1, -86_400.5, 951_782_400, 4_107_542_400, 1_796_312_640.123456789, 253_402_300_799]
            + (0..<500).map { _ in Double.random(in: -2_000_000_000...4_000_000_000, using: &random) }
        for instant in instants {
            let whole = instant.rounded(.down)
            let expected = formatter.string(from: Date(timeIntervalSince1970: whole)).dropLast()
            let stamp = ChartIndex.timestamp(Date(timeIntervalSince1970: instant))
            #expect(stamp.hasPrefix(expected + "."), "\(instant): \(stamp)")
            #expect(stamp.count == 30 && stamp.hasSuffix("Z"), "\(stamp)")
        }
    }
}
