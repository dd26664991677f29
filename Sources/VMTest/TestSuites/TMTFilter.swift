import Foundation

/// fmf's filter language, as `tmt --filter` and a plan's `discover: filter:` use it:
/// clauses joined by `|`, literals within a clause by `&`, each literal `key: value`
/// (values separated by commas are alternatives, a leading `-` negates) or a node name.
/// Values are regular expressions matching a whole value; a name is searched for. A node
/// lacking a key the filter names does not match, as in fmf.
public struct TMTFilter: Sendable, Equatable, CustomStringConvertible {
    public var text: String

    public init(_ text: String) throws(TestMetadataError) {
        self.text = text
        for pattern in Self.literals(text).flatMap({ $0.values }) where !pattern.isEmpty {
            guard (try? NSRegularExpression(pattern: pattern)) != nil else {
                throw TestMetadataError(
                    file: "--filter", message: "`\(pattern)` is not a regular expression",
                    fix: "escape special characters with a backslash")
            }
        }
    }

    public var description: String { text }

    public func matches(name: String, data: FMFMap) -> Bool {
        if text.trimmingCharacters(in: .whitespaces).isEmpty { return true }
        return Self.clauses(text).contains { clause in
            var byKey: [String: [String]] = [:]
            for literal in Self.split(clause, on: "&") {
                guard let colon = literal.firstIndex(of: ":") else {
                    guard name.range(of: literal, options: .regularExpression) != nil else { return false }
                    continue
                }
                let key = literal[..<colon].trimmingCharacters(in: .whitespaces)
                byKey[key, default: []].append(literal[literal.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }
            return byKey.allSatisfy { key, values in
                guard let value = data[key] else { return false }
                let present: [String]
                switch value {
                case .list(let items): present = items.map { $0.text ?? "\($0)" }
                default: present = [value.text ?? "\(value)"]
                }
                return values.allSatisfy { Self.check($0, against: present) }
            }
        }
    }

    private static func check(_ value: String, against present: [String]) -> Bool {
        value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.contains { atom in
            if atom.hasPrefix("-") {
                let pattern = String(atom.dropFirst())
                return !present.contains { whole(pattern, $0) }
            }
            return present.contains { whole(atom, $0) }
        }
    }

    private static func whole(_ pattern: String, _ text: String) -> Bool {
        text.range(of: "^(?:\(pattern))$", options: .regularExpression) != nil
    }

    private static func clauses(_ text: String) -> [String] { split(text, on: "|") }

    private static func literals(_ text: String) -> [(key: String, values: [String])] {
        clauses(text).flatMap { split($0, on: "&") }.compactMap { literal in
            guard let colon = literal.firstIndex(of: ":") else { return (key: "", values: [literal]) }
            let values = literal[literal.index(after: colon)...].split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces) }.map { $0.hasPrefix("-") ? String($0.dropFirst()) : $0 }
            return (key: String(literal[..<colon]), values: values)
        }
    }

    /// Splits on an operator not escaped with a backslash, then unescapes it.
    private static func split(_ text: String, on separator: Character) -> [String] {
        var parts: [String] = []
        var current = ""
        var escaped = false
        for character in text {
            if escaped {
                current.append(character == separator ? String(character) : "\\\(character)")
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == separator {
                parts.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            } else {
                current.append(character)
            }
        }
        if escaped { current.append("\\") }
        parts.append(current.trimmingCharacters(in: .whitespaces))
        return parts
    }
}
