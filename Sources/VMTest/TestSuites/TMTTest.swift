import Foundation

/// A tmt test: an fmf node with a `test` key, read with tmt's defaults (the L1 metadata
/// specification: tests/*), each wrong value named by file and line.
public struct TMTTest: Sendable, Equatable {
    /// The node's name, `/tests/smoke`: the JUnit test case's name.
    public var name: String
    /// A shell script run with `bash`, from ``directory``.
    public var command: String
    /// The working directory, relative to the tree's root: `path` when given, else the
    /// directory of the file that defined the test.
    public var directory: String
    public var require: [String]
    public var recommend: [String]
    /// The time limit; tmt's default is five minutes.
    public var duration: Duration
    public var environment: [String: String]
    public var framework: Framework
    public var enabled: Bool
    public var tags: [String]
    public var result: ResultInterpretation
    /// tmt runs tests by `order` (default 50), then as the tree lists them.
    public var order: Int
    /// The node's data after inheritance, for `--filter` on any key.
    public var data: FMFMap

    public enum Framework: String, Sendable {
        case shell
        case beakerlib
    }

    /// What a test's own outcome becomes in the results (tmt's `result` key).
    public enum ResultInterpretation: String, Sendable, CaseIterable {
        /// The test's outcome as it is.
        case respect
        /// Expected to fail: a failure passes, a pass fails.
        case xfail
        case pass, info, warn, error, fail
    }

    /// `nil` for a node that is not a test (no `test` key).
    public static func from(_ node: FMFTree.Node) throws(TestMetadataError) -> TMTTest? {
        let data = node.data
        guard let testEntry = data.entry("test") else { return nil }
        func wrong(_ key: String, _ expected: String) -> TestMetadataError {
            let entry = data.entry(key)
            return TestMetadataError(
                file: entry?.file ?? node.file, line: entry?.line ?? node.line,
                message: "\(node.name): `\(key)` must be \(expected)")
        }
        guard case .string(let command) = testEntry.value, !command.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw wrong("test", "a non-empty shell command")
        }
        func strings(_ key: String) throws(TestMetadataError) -> [String] {
            guard let value = data[key] else { return [] }
            guard let strings = value.strings else { throw wrong(key, "a package name or a list of them") }
            return strings
        }
        var directory = node.directory
        if let path = data["path"] {
            guard case .string(let text) = path, text.hasPrefix("/"), !text.split(separator: "/").contains("..") else {
                throw wrong("path", "a directory from the tree's root, such as `/tests/smoke`")
            }
            let trimmed = text.split(separator: "/").joined(separator: "/")
            directory = trimmed.isEmpty ? "." : trimmed
        }
        var duration = Duration.seconds(300)
        if let value = data["duration"] {
            guard let text = value.text, let parsed = TMTDuration.parse(text) else {
                throw wrong("duration", "a time such as `90`, `5m`, `1h 30m` or `2h*2`")
            }
            duration = parsed
        }
        var environment: [String: String] = [:]
        if let value = data["environment"] {
            guard case .map(let map) = value else { throw wrong("environment", "a mapping of variables to values") }
            for entry in map.entries {
                guard let text = entry.value.text, entry.key.range(of: #"^[A-Za-z_][A-Za-z0-9_]*$"#, options: .regularExpression) != nil
                else {
                    throw TestMetadataError(
                        file: entry.file, line: entry.line,
                        message: "\(node.name): environment `\(entry.key)` needs a variable name and a plain value")
                }
                environment[entry.key] = text
            }
        }
        func choice<T: RawRepresentable & CaseIterable>(_ key: String, default fallback: T) throws(TestMetadataError) -> T
        where T.RawValue == String {
            guard let value = data[key] else { return fallback }
            guard let text = value.text, let chosen = T(rawValue: text) else {
                throw wrong(key, "one of " + T.allCases.map { "`\($0.rawValue)`" }.joined(separator: ", "))
            }
            return chosen
        }
        var enabled = true
        if let value = data["enabled"] {
            guard case .bool(let flag) = value else { throw wrong("enabled", "true or false") }
            enabled = flag
        }
        var order = 50
        if let value = data["order"] {
            guard case .int(let number) = value else { throw wrong("order", "a whole number") }
            order = number
        }
        return TMTTest(
            name: node.name, command: command, directory: directory, require: try strings("require"),
            recommend: try strings("recommend"), duration: duration, environment: environment,
            framework: try choice("framework", default: Framework.shell), enabled: enabled, tags: try strings("tag"),
            result: try choice("result", default: ResultInterpretation.respect), order: order, data: data)
    }
}

extension TMTTest.Framework: CaseIterable {}

/// tmt's time limits: a number with an optional unit (`s`, `m`, `h`, `d`), several of
/// them summed (`1h 30m`), and multipliers (`*2`) applied to the sum.
enum TMTDuration {
    static func parse(_ text: String) -> Duration? {
        var seconds = 0.0
        var multiplier = 1.0
        var sawTime = false
        for word in text.split(whereSeparator: \.isWhitespace) {
            var part = Substring(word)
            var factors: [Substring] = []
            if let star = part.firstIndex(of: "*") {
                factors = part[star...].split(separator: "*")
                part = part[..<star]
            }
            for factor in factors {
                guard let value = Double(factor), value > 0 else { return nil }
                multiplier *= value
            }
            guard !part.isEmpty else { continue }
            let unit: Double
            switch part.last! {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            case "d": unit = 86400
            default: unit = 0
            }
            let number = unit == 0 ? part : part.dropLast()
            guard let value = Double(number), value >= 0 else { return nil }
            seconds += value * (unit == 0 ? 1 : unit)
            sawTime = true
        }
        guard sawTime, seconds > 0 else { return nil }
        return .milliseconds(Int((seconds * multiplier * 1000).rounded()))
    }
}
