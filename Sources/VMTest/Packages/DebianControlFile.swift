import Foundation

/// A file of deb822 paragraphs (`debian/control`, `debian/tests/control`, a `.dsc`), each
/// field remembering its line so a mistake can be named where it is.
///
/// Comments follow autopkgtest rather than Policy: a `#` anywhere starts one, and a line
/// left blank by removing it is dropped instead of ending the paragraph, because real
/// control files put comments in the middle of continued fields.
public struct DebianControlFile: Sendable, Equatable {
    public struct Field: Sendable, Equatable {
        /// As written; look fields up with ``Paragraph/subscript(_:)``, which ignores case.
        public var name: String
        /// Continuation lines joined with single spaces (or newlines, for `multiline` fields).
        public var value: String
        public var line: Int
    }

    public struct Paragraph: Sendable, Equatable {
        public var fields: [Field]
        /// The line of the paragraph's first field.
        public var line: Int

        /// Field names are case-insensitive in deb822.
        public subscript(_ name: String) -> String? { field(name)?.value }

        public func field(_ name: String) -> Field? {
            fields.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }
        }
    }

    public var paragraphs: [Paragraph]

    /// - Parameter multilineFields: fields whose continuation lines keep their line breaks
    ///   (a `.dsc`'s `Checksums-Sha256`); every other field folds them into one line.
    public static func parse(
        _ text: String, file: String, multilineFields: Set<String> = []
    ) throws(TestMetadataError) -> DebianControlFile {
        let folded = Set(multilineFields.map { $0.lowercased() })
        var paragraphs: [Paragraph] = []
        var fields: [Field] = []
        func endParagraph() {
            if let first = fields.first { paragraphs.append(Paragraph(fields: fields, line: first.line)) }
            fields = []
        }
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.hasPrefix("#") { continue }
            if let hash = line.firstIndex(of: "#") {
                line = line[..<hash]
                if line.allSatisfy(\.isWhitespace) { continue }
            }
            if line.allSatisfy(\.isWhitespace) {
                endParagraph()
                continue
            }
            if line.first == " " || line.first == "\t" {
                guard var last = fields.popLast() else {
                    throw TestMetadataError(
                        file: file, line: number, message: "a continuation line with no field before it",
                        fix: "start the paragraph with `Name: value`; only continuation lines begin with a space")
                }
                let continued = line.trimmingCharacters(in: .whitespaces)
                if folded.contains(last.name.lowercased()) {
                    last.value += (last.value.isEmpty ? "" : "\n") + continued
                } else if !continued.isEmpty && continued != "." {
                    last.value += (last.value.isEmpty ? "" : " ") + continued
                }
                fields.append(last)
                continue
            }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                throw TestMetadataError(
                    file: file, line: number, message: "`\(line)` is not a field",
                    fix: "write fields as `Name: value`, and separate paragraphs with an empty line")
            }
            let name = String(line[..<colon])
            guard !name.contains(where: \.isWhitespace) else {
                throw TestMetadataError(file: file, line: number, message: "`\(name)` is not a field name (it has a space)")
            }
            if fields.contains(where: { $0.name.caseInsensitiveCompare(name) == .orderedSame }) {
                throw TestMetadataError(
                    file: file, line: number, message: "field `\(name)` appears twice in one paragraph",
                    fix: "merge the two into one field")
            }
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            fields.append(Field(name: name, value: value, line: number))
        }
        endParagraph()
        return DebianControlFile(paragraphs: paragraphs)
    }
}
