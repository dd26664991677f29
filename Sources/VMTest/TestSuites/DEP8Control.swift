import Foundation

/// Reads a `debian/tests/control` file the way autopkgtest's `testdesc.py` does: the
/// same fields, defaults, substitutions and reasons to skip, so a packager's tests mean
/// in vmtest what they mean on ci.debian.net.
///
/// Mistakes autopkgtest calls invalid (both or neither of `Tests` and `Test-Command`, an
/// empty `Tests`, a bad `test-name`, a dependency that does not parse) throw with the
/// file and line. What autopkgtest skips (an unknown field or restriction, another
/// architecture) becomes a test with a ``DEP8Test/skipReason``.
public enum DEP8Control {
    static let knownFields: Set<String> = [
        "tests", "test-command", "restrictions", "features", "depends", "tests-directory", "classes", "architecture",
    ]

    /// - Parameters:
    ///   - file: the control file's name for messages (relative to the source tree).
    ///   - source: the source tree's `debian/control`, which says what `@`, `@builddeps@`
    ///     and `@recommends@` stand for; without one, `@` stands for the packages under test.
    ///   - packagesUnderTest: the binary packages of this run, used for `@` when there is
    ///     no `debian/control`.
    ///   - architecture: the guest's Debian architecture (armhf).
    public static func parse(
        _ text: String, file: String, source: DebianControlFile?, packagesUnderTest: [String] = [], architecture: String
    ) throws(TestMetadataError) -> [DEP8Test] {
        let substitutions = substitutions(source: source, packagesUnderTest: packagesUnderTest, architecture: architecture)
        var tests: [DEP8Test] = []
        var commandCount = 0
        for stanza in try DebianControlFile.parse(text, file: file).paragraphs {
            func invalid(_ message: String, fix: String, at line: Int? = nil) -> TestMetadataError {
                TestMetadataError(file: file, line: line ?? stanza.line, message: message, fix: fix)
            }
            let words: (String) -> [String] = { name in
                (stanza[name] ?? "").replacingOccurrences(of: ",", with: " ").split(whereSeparator: \.isWhitespace).map(String.init)
            }
            // A misspelt field or restriction would quietly change what a test means; it is
            // refused before anything boots, where autopkgtest would skip the test.
            // X- fields are extensions by deb822's convention, and left alone.
            if let unknown = stanza.fields.first(where: { !knownFields.contains($0.name.lowercased()) && !$0.name.hasPrefix("X-") }) {
                throw invalid(
                    "unknown field `\(unknown.name)`",
                    fix:
                        "use one of Tests, Test-Command, Restrictions, Features, Depends, Tests-Directory, Classes, Architecture (or X-\(unknown.name) for one of your own)",
                    at: unknown.line)
            }
            var restrictions = Set<DEP8Restriction>()
            for word in words("Restrictions") {
                guard let restriction = DEP8Restriction(rawValue: word) else {
                    throw invalid(
                        "unknown restriction `\(word)`",
                        fix: "use one autopkgtest knows: \(DEP8Restriction.allCases.map(\.rawValue).joined(separator: ", "))",
                        at: stanza.field("Restrictions")?.line)
                }
                restrictions.insert(restriction)
            }
            var featureName: String?
            for feature in words("Features") where feature == "test-name" || feature.hasPrefix("test-name=") {
                let value = feature.dropFirst("test-name".count).dropFirst()
                guard !value.isEmpty else {
                    throw invalid("`test-name` needs a value", fix: "write `Features: test-name=NAME`", at: stanza.field("Features")?.line)
                }
                guard featureName == nil else {
                    throw invalid("only one `test-name` is allowed in a stanza", fix: "keep one", at: stanza.field("Features")?.line)
                }
                featureName = String(value)
            }
            var dependsField = stanza["Depends"] ?? "@"
            if restrictions.contains(.needsRecommends) { dependsField += ", @recommends@" }
            let depends: DebianDependency
            do {
                depends = try DebianDependency.parse(dependsField, architecture: architecture, substitutions: substitutions)
            } catch {
                throw invalid(
                    "Depends: \(error)", fix: "write it as a dpkg dependency field, e.g. `Depends: @, python3 (>= 3.9)`",
                    at: stanza.field("Depends")?.line)
            }
            let architectures = words("Architecture")
            func skipReason() -> String? {
                if let reason = restrictions.lazy.sorted(by: { $0.rawValue < $1.rawValue }).compactMap(\.unsupportedReason).first {
                    return reason
                }
                if !architectures.isEmpty,
                    !DebianDependency.Alternative.architectureList(architectures.joined(separator: " "), includes: architecture)
                {
                    return "not for \(architecture) (Architecture: \(architectures.joined(separator: " ")))"
                }
                return nil
            }

            let names = words("Tests")
            let command = stanza["Test-Command"]
            switch (stanza.field("Tests"), command) {
            case (.some, .some):
                throw invalid("a stanza has both `Tests` and `Test-Command`", fix: "split it into two stanzas")
            case (.some(let field), nil):
                guard !names.isEmpty else { throw invalid("`Tests` is empty", fix: "name at least one test", at: field.line) }
                guard featureName == nil else {
                    throw invalid("`test-name` only names a `Test-Command`", fix: "drop it: a script's name is its file name")
                }
                let directory = stanza["Tests-Directory"] ?? "debian/tests"
                guard !directory.hasPrefix("/"), !directory.split(separator: "/").contains("..") else {
                    throw invalid(
                        "`Tests-Directory: \(directory)` leaves the source tree",
                        fix: "give a path relative to the source tree's root", at: stanza.field("Tests-Directory")?.line)
                }
                for name in names {
                    tests.append(
                        DEP8Test(
                            name: name, program: .script(path: "\(directory)/\(name)"), restrictions: restrictions,
                            depends: depends, line: stanza.line, skipReason: skipReason()))
                }
            case (nil, .some(let command)):
                let name: String
                if let featureName {
                    name = featureName
                } else {
                    commandCount += 1
                    name = "command\(commandCount)"
                }
                tests.append(
                    DEP8Test(
                        name: name, program: .command(command), restrictions: restrictions, depends: depends,
                        line: stanza.line, skipReason: skipReason()))
            case (nil, nil):
                throw invalid("a stanza has neither `Tests` nor `Test-Command`", fix: "add one of them")
            }
        }
        let duplicates = Dictionary(grouping: tests, by: \.name).filter { $0.value.count > 1 }
        if let (name, twice) = duplicates.min(by: { $0.key < $1.key }) {
            throw TestMetadataError(
                file: file, line: twice[1].line, message: "two tests are named `\(name)`",
                fix: "give the second one another name (`Features: test-name=...` for a command)")
        }
        return tests
    }

    /// What `@`, `@builddeps@` and `@recommends@` stand for, from the source's
    /// `debian/control` (binary packages of type deb built for this architecture).
    static func substitutions(
        source: DebianControlFile?, packagesUnderTest: [String], architecture: String
    ) -> [String: DebianDependency.Substitution] {
        guard let source else { return ["@": .eachPackage(packagesUnderTest)] }
        let binaries = source.paragraphs.filter { paragraph in
            guard paragraph["Package"] != nil else { return false }
            let type = paragraph["Package-Type"] ?? paragraph["XC-Package-Type"] ?? "deb"
            let architectures = (paragraph["Architecture"] ?? "any").split(whereSeparator: \.isWhitespace).map(String.init)
            return type == "deb"
                && architectures.contains { $0 == "all" || DebianArchitecture.matches(pattern: $0, architecture) }
        }
        func field(_ names: [String], in paragraphs: [DebianControlFile.Paragraph], plus extra: [String] = []) -> DebianDependency {
            let text = (paragraphs.flatMap { paragraph in names.compactMap { paragraph[$0] } } + extra).joined(separator: ", ")
            // Variables such as ${misc:Depends} are stripped, as autopkgtest does.
            let withoutVariables = text.replacingOccurrences(of: #"\$\{[^}]*\}"#, with: "", options: .regularExpression)
            return (try? DebianDependency.parse(withoutVariables, architecture: architecture)) ?? DebianDependency(clauses: [])
        }
        let sourceStanza = source.paragraphs.filter { $0["Source"] != nil }
        return [
            "@": .eachPackage(binaries.compactMap { $0["Package"] }),
            "@builddeps@": .field(
                field(
                    ["Build-Depends", "Build-Depends-Indep", "Build-Depends-Arch"], in: sourceStanza,
                    plus: ["build-essential"])),
            "@recommends@": .field(field(["Recommends"], in: binaries)),
        ]
    }
}
