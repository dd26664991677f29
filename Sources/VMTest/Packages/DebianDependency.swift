import Foundation

/// A dpkg dependency field (`Depends: a, b [amd64] | c (>= 3)`) narrowed to one
/// architecture: what `apt-get satisfy` is given in the guest.
///
/// The syntax is Debian Policy's (section 7.1): clauses separated by commas, alternatives
/// by `|`, each a package with an optional `:arch` qualifier, `(op version)`,
/// `[arch list]` and `<build profiles>`. No build profile is active in a test run, so
/// `<!nocheck>` keeps an alternative and `<nocheck>` drops it.
public struct DebianDependency: Sendable, Equatable, CustomStringConvertible {
    public struct Alternative: Sendable, Equatable, CustomStringConvertible {
        /// With its `:arch` qualifier, if any.
        public var package: String
        /// `>= 3`, as written inside the parentheses.
        public var version: String?

        public var description: String { version.map { "\(package) (\($0))" } ?? package }
    }

    /// Each clause must be met by one of its alternatives.
    public var clauses: [[Alternative]]

    public var description: String {
        clauses.map { $0.map(\.description).joined(separator: " | ") }.joined(separator: ", ")
    }

    public var isEmpty: Bool { clauses.isEmpty }

    /// - Parameter substitutions: what a whole alternative such as `@` or `@builddeps@`
    ///   stands for; a clause holding one is repeated once for each package it names
    ///   (autopkgtest's rule for `@`), or replaced by a whole field's clauses.
    public static func parse(
        _ field: String, architecture: String, substitutions: [String: Substitution] = [:]
    ) throws(DependencySyntaxError) -> DebianDependency {
        var clauses: [[Alternative]] = []
        for rawClause in field.split(separator: ",") {
            let clauseText = rawClause.trimmingCharacters(in: .whitespaces)
            if clauseText.isEmpty { continue }
            var alternatives: [Alternative] = []
            var expanded: [[Alternative]]?
            for rawAlternative in clauseText.split(separator: "|") {
                let text = rawAlternative.trimmingCharacters(in: .whitespaces)
                if let substitution = substitutions[text] {
                    switch substitution {
                    case .eachPackage(let packages):
                        expanded = packages.map { [Alternative(package: $0)] }
                    case .field(let dependency):
                        expanded = dependency.clauses
                    }
                    continue
                }
                if let alternative = try Alternative.parse(text, architecture: architecture) {
                    alternatives.append(alternative)
                }
            }
            if let expanded {
                guard alternatives.isEmpty else {
                    throw DependencySyntaxError(
                        text: clauseText, problem: "a substitution such as `@` cannot be one of several alternatives")
                }
                clauses += expanded
            } else if !alternatives.isEmpty {
                clauses.append(alternatives)
            }
        }
        return DebianDependency(clauses: clauses)
    }

    public enum Substitution: Sendable, Equatable {
        case eachPackage([String])
        case field(DebianDependency)
    }
}

extension DebianDependency.Alternative {
    /// `nil` when the alternative does not apply to `architecture` (its `[arch list]` or
    /// `<profiles>` leave it out).
    static func parse(_ text: String, architecture: String) throws(DependencySyntaxError) -> Self? {
        var rest = Substring(text)
        let name = rest.prefix { !$0.isWhitespace && !"([<".contains($0) }
        rest = rest.dropFirst(name.count)
        guard !name.isEmpty, name.first!.isLetter || name.first!.isNumber else {
            throw DependencySyntaxError(text: text, problem: "no package name")
        }
        var version: String?
        var applies = true
        while true {
            rest = rest.drop { $0.isWhitespace }
            guard let opening = rest.first else { break }
            let closing: Character
            switch opening {
            case "(": closing = ")"
            case "[": closing = "]"
            case "<": closing = ">"
            default: throw DependencySyntaxError(text: text, problem: "unexpected `\(rest)`")
            }
            guard let end = rest.firstIndex(of: closing) else {
                throw DependencySyntaxError(text: text, problem: "`\(opening)` is never closed")
            }
            let inside = rest[rest.index(after: rest.startIndex)..<end].trimmingCharacters(in: .whitespaces)
            rest = rest[rest.index(after: end)...]
            switch opening {
            case "(":
                guard let relation = ["<<", "<=", ">=", ">>", "="].first(where: { inside.hasPrefix($0) }) else {
                    throw DependencySyntaxError(text: text, problem: "`(\(inside))` has no relation (<<, <=, =, >=, >>)")
                }
                let number = inside.dropFirst(relation.count).trimmingCharacters(in: .whitespaces)
                guard !number.isEmpty else { throw DependencySyntaxError(text: text, problem: "`(\(inside))` has no version") }
                version = "\(relation) \(number)"
            case "[":
                applies = applies && Self.architectureList(inside, includes: architecture)
            default:
                // No build profile is active: `!profile` holds, a bare profile does not.
                applies = applies && inside.split(whereSeparator: \.isWhitespace).allSatisfy { $0.hasPrefix("!") }
            }
        }
        return applies ? Self(package: String(name), version: version) : nil
    }

    /// `[amd64 armhf]` names the architectures it applies to, `[!amd64]` those it does not.
    /// Wildcards such as `linux-any` and `any-arm` match by their parts.
    static func architectureList(_ list: String, includes architecture: String) -> Bool {
        let entries = list.split(whereSeparator: \.isWhitespace).map(String.init)
        let negated = entries.allSatisfy { $0.hasPrefix("!") }
        let matched = entries.contains {
            DebianArchitecture.matches(pattern: $0.hasPrefix("!") ? String($0.dropFirst()) : $0, architecture)
        }
        return negated ? !matched : matched
    }
}

/// Debian architecture names and the wildcards that stand for several of them.
enum DebianArchitecture {
    /// `any`, the name itself, `linux-any`, `any-arm` (the CPU part) match; the test
    /// guests are all Linux.
    static func matches(pattern: String, _ architecture: String) -> Bool {
        if pattern == "any" || pattern == architecture { return true }
        let parts = pattern.split(separator: "-")
        guard parts.count == 2 else { return false }
        if parts[1] == "any" { return parts[0] == "linux" }
        if parts[0] == "any" { return cpu(of: architecture) == parts[1] }
        return false
    }

    /// armhf and armel are both the `arm` CPU; arm64 is its own.
    static func cpu(of architecture: String) -> String {
        ["armhf": "arm", "armel": "arm", "amd64": "amd64", "arm64": "arm64", "i386": "i386"][architecture] ?? architecture
    }
}

public struct DependencySyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var text: String
    public var problem: String
    public var description: String { "`\(text)`: \(problem)" }
}
