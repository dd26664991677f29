import Foundation

/// A checksum file as mirrors publish them beside their images.
///
/// Two styles are read, mixed freely, one entry a line:
/// - coreutils `sha256sum`: `HEX  NAME` (text mode) or `HEX *NAME` (binary mode);
/// - BSD / CentOS `CHECKSUM`: `SHA256 (NAME) = HEX`.
///
/// Anything else (comments, PGP clear-signing armour, MD5 or SHA-1 lines) is skipped, so a
/// signed CentOS `CHECKSUM` file reads as its SHA-256 entries.
public struct ChecksumFile: Sendable, Hashable {
    /// SHA-256 in lower-case hexadecimal by file name (without directories).
    public var sha256ByName: [String: String]

    public init(parsing text: String) {
        var entries: [String: String] = [:]
        for rawLine in text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if let (name, hex) = Self.bsdEntry(line) ?? Self.coreutilsEntry(line) {
                entries[Self.baseName(name)] = hex.lowercased()
            }
        }
        sha256ByName = entries
    }

    /// The checksum listed for a file name (the last path component of the image URL).
    public func sha256(for name: String) -> String? {
        sha256ByName[name]
    }

    static func isSHA256(_ text: Substring) -> Bool {
        text.count == 64 && text.allSatisfy(\.isHexDigit)
    }

    /// `SHA256 (NAME) = HEX`
    private static func bsdEntry(_ line: String) -> (String, String)? {
        guard line.uppercased().hasPrefix("SHA256 ("), let close = line.range(of: ") = ", options: .backwards) else { return nil }
        let name = line[line.index(line.startIndex, offsetBy: 8)..<close.lowerBound]
        let hex = line[close.upperBound...].trimmingCharacters(in: .whitespaces)
        guard isSHA256(Substring(hex)), !name.isEmpty else { return nil }
        return (String(name), hex)
    }

    /// `HEX  NAME` or `HEX *NAME` (one space is accepted too).
    private static func coreutilsEntry(_ line: String) -> (String, String)? {
        guard let space = line.firstIndex(of: " ") else { return nil }
        let hex = line[..<space]
        guard isSHA256(hex) else { return nil }
        var name = line[line.index(after: space)...]
        if name.first == " " || name.first == "*" { name = name.dropFirst() }
        guard !name.isEmpty else { return nil }
        return (String(name), String(hex))
    }

    private static func baseName(_ name: String) -> String {
        let trimmed = name.hasPrefix("./") ? String(name.dropFirst(2)) : name
        return trimmed.split(separator: "/").last.map(String.init) ?? trimmed
    }
}
