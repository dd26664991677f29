import Foundation
import Testing

@testable import VMTest

/// UTC timestamps worked out without ICU agree with Foundation's own ISO 8601 formatting
/// and parsing, across leap days, century rules and dates before 1970 (in the Gregorian calendar's time).
@Suite struct UTCTimestampTests {
    static let moments: [TimeInterval] = [
        0, -1, 1_796_196_322.75, 951_782_400, 951_868_799, 4_107_542_400, 4_107_628_799, -2_208_988_800, 253_402_300_799,
        1_709_208_000, -86_400 * 365 * 300 - 12_345,
    ]

    @Test(arguments: moments) func formatsAsFoundationDoes(_ seconds: TimeInterval) {
        let date = Date(timeIntervalSince1970: seconds)
        #expect(UTCTimestamp(date).iso8601 == date.formatted(.iso8601))
    }

    @Test(arguments: moments) func readsBackToTheSecond(_ seconds: TimeInterval) throws {
        let date = Date(timeIntervalSince1970: seconds)
        let read = try #require(UTCTimestamp(iso8601: UTCTimestamp(date).iso8601))
        #expect(read.date == Date(timeIntervalSince1970: seconds.rounded(.down)))
        #expect(read == UTCTimestamp(date))
    }

    /// Every 97th day from 1600 (Foundation's calendar is Julian before 1582) to 2370.
    @Test func daysOverFourCenturiesAgreeWithFoundation() throws {
        let strategy = Date.ISO8601FormatStyle()
        for day in stride(from: -135_000, to: 146_097, by: 97) {
            let date = Date(timeIntervalSince1970: TimeInterval(day * 86_400 + 3_723))
            let text = UTCTimestamp(date).iso8601
            #expect(try strategy.parse(text) == date, "\(text)")
            #expect(UTCTimestamp(iso8601: text)?.date == date)
        }
    }

    @Test(arguments: [
        "", "2026-12-02T07:25:22", "2026-12-02 07:25:22Z", "2026-13-02T07:25:22Z", "2026-12-02T24:00:00Z", "2026-1a-02T07:25:22Z",
        "2026-02-29T07:25:22Z", "2026-04-31T07:25:22Z", "2026-12-02T07:25:60Z",
    ])
    func refusesOtherText(_ text: String) {
        #expect(UTCTimestamp(iso8601: text) == nil)
    }

    @Test func compactSortsAndFitsAFileName() {
        let stamp = UTCTimestamp(Date(timeIntervalSince1970: 1_796_196_322))
        #expect(stamp.compact == "20261202-072522")
    }

    /// Manifests written with Foundation's `.iso8601` strategy are read, and written the same way.
    @Test func manifestDatesReadAndWriteAsBefore() throws {
        struct Dated: Codable, Equatable { var at: Date }
        let foundation = JSONEncoder()
        foundation.dateEncodingStrategy = .iso8601
        let value = Dated(at: Date(timeIntervalSince1970: 1_796_196_322))
        let written = try foundation.encode(value)
        #expect(try ManifestJSON.decoder.decode(Dated.self, from: written) == value)
        let ours = ManifestJSON.encoder
        #expect(String(decoding: try ours.encode(value), as: UTF8.self).contains("\"2026-12-02T07:25:22Z\""))
        #expect(throws: DecodingError.self) { try ManifestJSON.decoder.decode(Dated.self, from: Data(#"{"at": "yesterday"}"#.utf8)) }
    }
}
