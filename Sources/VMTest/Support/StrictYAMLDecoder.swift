import Foundation
import Yams

/// A line and column in a YAML file, counted from 1.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var line: Int
    public var column: Int

    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    public var description: String { "line \(line)" }
}

/// Decodes `Decodable` values from YAML and rejects anything the type did not ask for.
///
/// Yams' own decoder ignores unknown keys and reports errors as coding paths. A person
/// who typed `memroy: 512` needs "line 7: unknown key 'memroy'; did you mean 'memory'?",
/// so this decoder walks Yams' node tree itself, remembers where every value came from
/// and which keys each mapping was asked for, and turns every failure into a
/// ``YAMLProblem`` with a line.
public enum StrictYAMLDecoder {
    public static func decode<T: Decodable>(
        _ type: T.Type, from yaml: String
    ) throws(YAMLProblem) -> (value: T, locations: YAMLLocations) {
        let root: Node
        do {
            guard let composed = try Yams.compose(yaml: yaml) else {
                throw YAMLProblem(
                    location: nil, message: "the file is empty", fix: "write the profile's keys, see profiles/debian12-armhf.yaml")
            }
            root = composed
        } catch let problem as YAMLProblem {
            throw problem
        } catch let error as YamlError {
            throw YAMLProblem(syntaxError: error)
        } catch {
            throw YAMLProblem(location: nil, message: "cannot read YAML: \(error)", fix: nil)
        }

        let state = DecodingState()
        let value: T
        do {
            value = try T(from: NodeDecoder(node: root, codingPath: [], state: state))
        } catch let error as DecodingError {
            throw state.problem(for: error)
        } catch let problem as YAMLProblem {
            throw problem
        } catch {
            throw YAMLProblem(location: root.location, message: "\(error)", fix: nil)
        }
        if let unknown = state.firstUnknownKey(in: root) { throw unknown }
        return (value, YAMLLocations(table: state.locations))
    }
}

/// Where each decoded value stood in the file, for errors found after decoding
/// (for example "cpus: 0" is well-formed YAML but an impossible profile).
public struct YAMLLocations: Sendable {
    fileprivate var table: [String: SourceLocation]

    /// The location of the value at a dotted path such as `"boot.method"` or
    /// `"smoke-tests.1.run"`, or of its nearest ancestor that exists in the file.
    public func location(of path: String) -> SourceLocation? {
        var components = path.split(separator: ".").map(String.init)
        while true {
            if let found = table[components.joined(separator: ".")] { return found }
            if components.isEmpty { return nil }
            components.removeLast()
        }
    }
}

/// One problem in a YAML document: where, what, and what to do about it.
public struct YAMLProblem: Error, Sendable, Equatable {
    public var location: SourceLocation?
    public var message: String
    public var fix: String?

    public init(location: SourceLocation?, message: String, fix: String?) {
        self.location = location
        self.message = message
        self.fix = fix
    }

    init(syntaxError error: YamlError) {
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let detail = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
            self.init(
                location: SourceLocation(line: mark.line, column: mark.column),
                message: "YAML syntax error: \(detail)",
                fix: "check the indentation and quoting on this line and the one before it")
        case .duplicatedKeysInMapping(let duplicates, let context):
            self.init(
                location: SourceLocation(line: context.mark.line, column: context.mark.column),
                message: "key \(duplicates.map { "'\($0)'" }.joined(separator: ", ")) appears more than once",
                fix: "keep one of them")
        default:
            self.init(location: nil, message: "YAML syntax error: \(error)", fix: nil)
        }
    }
}

// MARK: - Decoder

private final class DecodingState {
    var locations: [String: SourceLocation] = [:]
    /// Keys each mapping was asked about, by the mapping's path.
    var requestedKeys: [String: Set<String>] = [:]
    var mappings: [String: Node.Mapping] = [:]

    func visit(_ node: Node, at path: [any CodingKey]) {
        if let location = node.location { locations[path.dotted] = location }
        if case .mapping(let mapping) = node { mappings[path.dotted] = mapping }
    }

    /// A key beside a missing one that is probably it, misspelt (`memroy` for `memory`).
    private func misspelling(of key: String, in path: String) -> (String, SourceLocation?)? {
        guard let mapping = mappings[path] else { return nil }
        let requested = requestedKeys[path] ?? []
        for (candidate, _) in mapping {
            guard let name = candidate.string, !requested.contains(name) else { continue }
            if closestMatch(to: name, among: [key]) != nil { return (name, candidate.location) }
        }
        return nil
    }

    func problem(for error: DecodingError) -> YAMLProblem {
        switch error {
        case .keyNotFound(let key, let context):
            let parent = context.codingPath.dotted
            if let (typo, location) = misspelling(of: key.stringValue, in: parent) {
                let section = parent.isEmpty ? "" : " in '\(parent)'"
                return YAMLProblem(
                    location: location,
                    message: "unknown key '\(typo)'\(section); did you mean '\(key.stringValue)'?",
                    fix: "rename it to '\(key.stringValue)'")
            }
            let name = parent.isEmpty ? "'\(key.stringValue)'" : "'\(key.stringValue)' in '\(parent)'"
            return YAMLProblem(
                location: locations[parent],
                message: "missing key \(name)",
                fix: "add `\(key.stringValue): ...`")
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            let path = context.codingPath.dotted
            let fix = (context.underlyingError as? FixSuggestion)?.fix
            return YAMLProblem(
                location: locations[path],
                message: path.isEmpty ? context.debugDescription : "'\(path)': \(context.debugDescription)",
                fix: fix)
        @unknown default:
            return YAMLProblem(location: nil, message: "\(error)", fix: nil)
        }
    }

    /// The first key, in file order, that no decoded type asked for.
    func firstUnknownKey(in root: Node) -> YAMLProblem? {
        var found: [(SourceLocation, YAMLProblem)] = []
        collectUnknownKeys(root, path: "", into: &found)
        return found.min { ($0.0.line, $0.0.column) < ($1.0.line, $1.0.column) }?.1
    }

    private func collectUnknownKeys(_ node: Node, path: String, into found: inout [(SourceLocation, YAMLProblem)]) {
        switch node {
        case .mapping(let mapping):
            guard let requested = requestedKeys[path] else { return }
            for (key, value) in mapping {
                let name = key.string ?? "\(key)"
                let childPath = path.isEmpty ? name : "\(path).\(name)"
                if requested.contains(name) {
                    collectUnknownKeys(value, path: childPath, into: &found)
                } else {
                    let location = key.location ?? SourceLocation(line: 0, column: 0)
                    let suggestion = closestMatch(to: name, among: requested)
                    let section = path.isEmpty ? "" : " in '\(path)'"
                    found.append(
                        (
                            location,
                            YAMLProblem(
                                location: location,
                                message: "unknown key '\(name)'\(section)" + (suggestion.map { "; did you mean '\($0)'?" } ?? ""),
                                fix: suggestion.map { "rename it to '\($0)'" }
                                    ?? "remove it; known keys here: \(requested.sorted().joined(separator: ", "))")
                        ))
                }
            }
        case .sequence(let sequence):
            for (index, element) in sequence.enumerated() {
                collectUnknownKeys(element, path: path.isEmpty ? "\(index)" : "\(path).\(index)", into: &found)
            }
        default:
            return
        }
    }
}

/// An error a decoded type throws when it knows how to fix its own bad value.
public struct FixSuggestion: Error, Sendable {
    public var fix: String
    public init(_ fix: String) { self.fix = fix }
}

extension Decoder {
    /// Throws a located "bad value" error from inside `init(from:)`.
    public func invalidValue(_ message: String, fix: String) -> DecodingError {
        DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: message, underlyingError: FixSuggestion(fix)))
    }
}

private struct NodeDecoder: Decoder {
    let node: Node
    let codingPath: [any CodingKey]
    let state: DecodingState
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(node: Node, codingPath: [any CodingKey], state: DecodingState) {
        self.node = node
        self.codingPath = codingPath
        self.state = state
        state.visit(node, at: codingPath)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .mapping(let mapping) = node else {
            throw DecodingError.typeMismatch(
                [String: Any].self,
                .init(codingPath: codingPath, debugDescription: "expected a mapping of keys, found \(node.kindDescription)"))
        }
        // Registering the mapping (even with no keys yet) is what makes its
        // unasked keys count as unknown later.
        state.requestedKeys[codingPath.dotted, default: []].formUnion([])
        return KeyedDecodingContainer(KeyedContainer<Key>(mapping: mapping, codingPath: codingPath, state: state))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .sequence(let sequence) = node else {
            throw DecodingError.typeMismatch(
                [Any].self, .init(codingPath: codingPath, debugDescription: "expected a list, found \(node.kindDescription)"))
        }
        return UnkeyedContainer(elements: Array(sequence), codingPath: codingPath, state: state)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        ScalarContainer(node: node, codingPath: codingPath, state: state)
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let mapping: Node.Mapping
    let codingPath: [any CodingKey]
    let state: DecodingState

    var allKeys: [Key] { mapping.keys.compactMap { $0.string.flatMap(Key.init(stringValue:)) } }

    private func note(_ key: Key) { state.requestedKeys[codingPath.dotted, default: []].insert(key.stringValue) }

    func contains(_ key: Key) -> Bool {
        note(key)
        return mapping[key.stringValue] != nil
    }

    private func value(for key: Key) throws -> Node {
        note(key)
        guard let node = mapping[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "missing"))
        }
        return node
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        note(key)
        guard let node = mapping[key.stringValue] else { return true }
        return node.isNull
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let node = try value(for: key)
        return try T(from: NodeDecoder(node: node, codingPath: codingPath + [key], state: state))
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        note(key)
        guard let node = mapping[key.stringValue], !node.isNull else { return nil }
        return try T(from: NodeDecoder(node: node, codingPath: codingPath + [key], state: state))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try NodeDecoder(node: value(for: key), codingPath: codingPath + [key], state: state).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try NodeDecoder(node: value(for: key), codingPath: codingPath + [key], state: state).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { NodeDecoder(node: .mapping(mapping), codingPath: codingPath, state: state) }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        try NodeDecoder(node: value(for: key), codingPath: codingPath + [key], state: state)
    }
}

private struct IndexKey: CodingKey {
    var stringValue: String { "\(index)" }
    var intValue: Int? { index }
    let index: Int
    init(_ index: Int) { self.index = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.index = intValue }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let elements: [Node]
    let codingPath: [any CodingKey]
    let state: DecodingState
    var currentIndex = 0

    init(elements: [Node], codingPath: [any CodingKey], state: DecodingState) {
        self.elements = elements
        self.codingPath = codingPath
        self.state = state
    }

    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    private mutating func next() throws -> (Node, [any CodingKey]) {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "the list has too few items"))
        }
        defer { currentIndex += 1 }
        return (elements[currentIndex], codingPath + [IndexKey(currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, elements[currentIndex].isNull else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (node, path) = try next()
        return try T(from: NodeDecoder(node: node, codingPath: path, state: state))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (node, path) = try next()
        return try NodeDecoder(node: node, codingPath: path, state: state).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (node, path) = try next()
        return try NodeDecoder(node: node, codingPath: path, state: state).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let (node, path) = try next()
        return NodeDecoder(node: node, codingPath: path, state: state)
    }
}

private struct ScalarContainer: SingleValueDecodingContainer {
    let node: Node
    let codingPath: [any CodingKey]
    let state: DecodingState

    func decodeNil() -> Bool { node.isNull }

    private func scalar(expecting what: String) throws -> Node.Scalar {
        guard case .scalar(let scalar) = node else {
            throw DecodingError.typeMismatch(
                String.self, .init(codingPath: codingPath, debugDescription: "expected \(what), found \(node.kindDescription)"))
        }
        return scalar
    }

    /// Booleans and numbers are read as YAML reads them (Yams' `construct(from:)`): a
    /// quoted `"2"` is text, `1_024` and `0x10` are numbers, `yes` and `off` are booleans.
    private func value<T>(_ what: String, _ construct: (Node.Scalar) -> T?) throws -> T {
        let scalar = try scalar(expecting: what)
        guard let value = construct(scalar) else {
            let quoted = scalar.style == .singleQuoted || scalar.style == .doubleQuoted
            throw DecodingError.typeMismatch(
                Any.self,
                .init(
                    codingPath: codingPath,
                    debugDescription: "expected \(what), found '\(scalar.string)'" + (quoted ? " (in quotes, which makes it text)" : "")))
        }
        return value
    }

    func decode(_ type: Bool.Type) throws -> Bool { try value("true or false", Bool.construct) }

    func decode(_ type: String.Type) throws -> String { try scalar(expecting: "a text value").string }

    func decode(_ type: Double.Type) throws -> Double { try value("a number", Double.construct) }

    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }

    private func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        try value("a whole number") { scalar in
            T.isSigned ? Int64.construct(from: scalar).flatMap(T.init(exactly:)) : UInt64.construct(from: scalar).flatMap(T.init(exactly:))
        }
    }

    func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        // Only reached for non-primitive types wrapped in a single value (for example
        // a RawRepresentable enum decoding its raw value); hand them the same node.
        try T(from: NodeDecoder(node: node, codingPath: codingPath, state: state))
    }
}

// MARK: - Helpers

extension Array where Element == any CodingKey {
    fileprivate var dotted: String {
        map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: ".")
    }
}

extension Node {
    fileprivate var location: SourceLocation? { mark.map { SourceLocation(line: $0.line, column: $0.column) } }

    fileprivate var isNull: Bool {
        guard case .scalar(let scalar) = self else { return false }
        if scalar.style != .plain { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    fileprivate var kindDescription: String {
        switch self {
        case .scalar(let scalar): return "'\(scalar.string)'"
        case .mapping: return "a mapping of keys"
        case .sequence: return "a list"
        case .alias: return "an alias"
        }
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
func closestMatch(to word: String, among candidates: some Sequence<String>) -> String? {
    let scored = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
    guard let best = scored.min(by: { ($0.1, $0.0) < ($1.1, $1.0) }) else { return nil }
    return best.1 <= max(2, word.count / 3) ? best.0 : nil
}

/// Edits (insert, delete, replace, or swap two neighbours) from `a` to `b`: the optimal
/// string alignment distance. A swap is one typo (`armfh` is one edit from `armhf`, two
/// from `arm64`), so it counts as one.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var beforePrevious: [Int] = []
    var previous = Array(0...b.count)
    for i in 1...a.count {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                current[j] = min(current[j], beforePrevious[j - 2] + 1)
            }
        }
        beforePrevious = previous
        previous = current
    }
    return previous[b.count]
}
