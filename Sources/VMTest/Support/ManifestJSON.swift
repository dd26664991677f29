import Foundation

/// The JSON of what vmtest keeps beside its caches (each folder's manifest.json), and the
/// bytes cache keys are hashed from.
enum ManifestJSON {
    /// For people to read: indented, sorted keys, ISO 8601 dates.
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = UTCTimestamp.jsonEncoding
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = UTCTimestamp.jsonDecoding
        return decoder
    }()

    /// The same value always gives the same bytes: what keys are hashed from.
    static let canonical: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()
}

/// FNV-1a, 64 bits, as hex: short stable names for folders keyed by their inputs.
enum StableHash {
    static func fnv1a(_ bytes: Data) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}
