import Foundation

/// The one encoder of summary.json, a run's and a night's alike: indented, sorted keys,
/// ISO 8601 dates, paths with their slashes as written.
enum SummaryJSON {
    static func encode(_ value: some Encodable) throws -> Data {
        try encoder.encode(value)
    }

    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = UTCTimestamp.jsonEncoding
        return encoder
    }()
}
