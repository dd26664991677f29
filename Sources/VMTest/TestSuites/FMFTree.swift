import Foundation
import Yams

/// An fmf metadata tree read from disk the way the fmf library grows one: `.fmf/version`
/// marks the root; each directory's `main.fmf` is its own node's data, every other
/// `NAME.fmf` a child node `NAME`, keys starting with `/` children inside a file; children
/// inherit their parent's data, and `key+`, `key+<` and `key-` extend, prepend to or
/// reduce what they inherit instead of replacing it.
public struct FMFTree: Sendable {
    /// One node after inheritance.
    public struct Node: Sendable, Equatable {
        /// `/tests/smoke`, as tmt names it.
        public var name: String
        public var data: FMFMap
        /// The directory of the file that defined the node, relative to the root (`.` for
        /// the root): tmt's default working directory for a test.
        public var directory: String
        /// The file and line where the node's own data starts, for messages.
        public var file: String
        public var line: Int?
    }

    public var root: URL
    /// The nodes tmt would consider: leaves, and nodes whose `/` directive says `select: true`.
    public var nodes: [Node]

    public static func isTree(_ directory: URL) -> Bool {
        FileManager.default.fileExists(atPath: directory.appendingPathComponent(".fmf/version").path)
    }

    public static func read(root: URL) throws(TestMetadataError) -> FMFTree {
        guard isTree(root) else {
            throw TestMetadataError(
                file: root.path, message: "not an fmf tree: there is no .fmf/version",
                fix: "point at the directory holding .fmf/ (create it with `fmf init`)")
        }
        let top = Growing(name: "/", directory: ".")
        try top.grow(root, relative: ".", treeRoot: root)
        var nodes: [Node] = []
        try top.inherit(from: nil, into: &nodes)
        return FMFTree(root: root, nodes: nodes)
    }
}

/// A node while the tree is read: raw data, before inheritance.
private final class Growing {
    let name: String
    var directory: String
    var raw = FMFMap()
    var children: [(name: String, node: Growing)] = []
    var updated = false
    var inherits = true
    var select: Bool?
    var file = ""
    var line: Int?

    init(name: String, directory: String) {
        self.name = name
        self.directory = directory
    }

    func grow(_ url: URL, relative: String, treeRoot: URL) throws(TestMetadataError) {
        let listing = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        var files = listing.filter { $0.hasSuffix(".fmf") && !$0.hasPrefix(".") }.sorted()
        if let main = files.firstIndex(of: "main.fmf") { files.insert(files.remove(at: main), at: 0) }
        for fileName in files {
            let path = relative == "." ? fileName : "\(relative)/\(fileName)"
            let data = try Self.load(url.appendingPathComponent(fileName), shownAs: path)
            if fileName == "main.fmf" {
                file = path
                line = 1
                try update(data, file: path)
            } else {
                let childNode = child(String(fileName.dropLast(".fmf".count)), directory: relative)
                childNode.file = path
                childNode.line = 1
                try childNode.update(data, file: path)
            }
        }
        for entry in listing.sorted() where !entry.hasPrefix(".") {
            let sub = url.appendingPathComponent(entry)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: sub.path, isDirectory: &isDirectory), isDirectory.boolValue,
                !FMFTree.isTree(sub)
            else { continue }
            let subRelative = relative == "." ? entry : "\(relative)/\(entry)"
            try child(entry, directory: subRelative).grow(sub, relative: subRelative, treeRoot: treeRoot)
        }
        children.removeAll { $0.node.children.isEmpty && !$0.node.updated }
    }

    func child(_ childName: String, directory: String) -> Growing {
        if let existing = children.first(where: { $0.name == childName }) { return existing.node }
        let made = Growing(name: name == "/" ? "/\(childName)" : "\(name)/\(childName)", directory: directory)
        children.append((childName, made))
        return made
    }

    func update(_ data: FMFMap?, file: String) throws(TestMetadataError) {
        updated = true
        guard let data else { return }
        for entry in data.entries {
            if entry.key == "/" {
                try directives(entry)
            } else if entry.key.hasPrefix("/") {
                let path = entry.key.drop { $0 == "/" }
                guard !path.isEmpty else { continue }
                let first = path.split(separator: "/", maxSplits: 1)
                let childNode = child(String(first[0]), directory: directory)
                if childNode.file.isEmpty {
                    childNode.file = file
                    childNode.line = entry.line
                }
                if first.count == 2 {
                    var nested = FMFMap()
                    nested.entries = [FMFMap.Entry(key: "/" + first[1], value: entry.value, file: entry.file, line: entry.line)]
                    try childNode.update(nested, file: file)
                } else if case .map(let map) = entry.value {
                    try childNode.update(map, file: file)
                } else if entry.value == .null {
                    try childNode.update(nil, file: file)
                } else {
                    throw TestMetadataError(file: file, line: entry.line, message: "child `\(entry.key)` must be a mapping")
                }
            } else {
                raw.set(entry)
            }
        }
    }

    private func directives(_ entry: FMFMap.Entry) throws(TestMetadataError) {
        guard case .map(let map) = entry.value else {
            throw TestMetadataError(file: entry.file, line: entry.line, message: "the fmf directive `/` must be a mapping")
        }
        for directive in map.entries {
            guard case .bool(let value) = directive.value, ["inherit", "select"].contains(directive.key) else {
                throw TestMetadataError(
                    file: directive.file, line: directive.line,
                    message: "unknown fmf directive `\(directive.key)` (or not true/false)", fix: "fmf knows `inherit` and `select`")
            }
            if directive.key == "inherit" { inherits = value } else { select = value }
        }
    }

    func inherit(from parent: FMFMap?, into nodes: inout [FMFTree.Node]) throws(TestMetadataError) {
        var data = inherits ? (parent ?? FMFMap()) : FMFMap()
        try FMFMerge.apply(raw, to: &data)
        if select ?? children.isEmpty {
            nodes.append(FMFTree.Node(name: name, data: data, directory: directory, file: file, line: line))
        }
        // fmf climbs a tree's children sorted by name, whatever order the files gave.
        for child in children.sorted(by: { $0.name < $1.name }) { try child.node.inherit(from: data, into: &nodes) }
    }

    static func load(_ url: URL, shownAs file: String) throws(TestMetadataError) -> FMFMap? {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw TestMetadataError(file: file, message: "cannot be read: \(error.localizedDescription)")
        }
        let node: Yams.Node?
        do { node = try Yams.compose(yaml: text) } catch let error as YamlError {
            let problem = YAMLProblem(syntaxError: error)
            throw TestMetadataError(file: file, line: problem.location?.line, message: problem.message, fix: problem.fix)
        } catch {
            throw TestMetadataError(file: file, message: "YAML syntax error: \(error)")
        }
        guard let node else { return nil }
        switch try FMFValue.from(node, file: file) {
        case .map(let map): return map
        case .null: return nil
        default: throw TestMetadataError(file: file, line: node.mark?.line, message: "an fmf file must hold a mapping")
        }
    }
}

/// fmf's rules for a child's key against what it inherits: `key` replaces, `key+`
/// appends (lists, strings, numbers; mappings merge key by key), `key+<` prepends,
/// `key-` removes (list items, mapping keys, a number subtracted).
enum FMFMerge {
    static func apply(_ source: FMFMap, to data: inout FMFMap) throws(TestMetadataError) {
        for entry in source.entries {
            if entry.key.hasSuffix("+<") {
                try plus(entry, key: String(entry.key.dropLast(2)), prepend: true, into: &data)
            } else if entry.key.hasSuffix("+") {
                try plus(entry, key: String(entry.key.dropLast()), prepend: false, into: &data)
            } else if entry.key.hasSuffix("-~") || entry.key.hasSuffix("~") {
                throw TestMetadataError(
                    file: entry.file, line: entry.line,
                    message: "`\(entry.key)`: fmf's regular-expression merges are not supported by vmtest",
                    fix: "write the resulting value, or use `+` / `-`")
            } else if entry.key.hasSuffix("-") {
                try minus(entry, key: String(entry.key.dropLast()), into: &data)
            } else {
                data.set(entry)
            }
        }
    }

    private static func plus(_ entry: FMFMap.Entry, key: String, prepend: Bool, into data: inout FMFMap) throws(TestMetadataError) {
        var merged = FMFMap.Entry(key: key, value: entry.value, file: entry.file, line: entry.line)
        guard let existing = data[key] else {
            data.set(merged)
            return
        }
        switch (existing, entry.value) {
        case (.list(let old), .list(let new)): merged.value = .list(prepend ? new + old : old + new)
        case (.string(let old), .string(let new)): merged.value = .string(prepend ? new + old : old + new)
        case (.int(let old), .int(let new)): merged.value = .int(old + new)
        case (.double(let old), .double(let new)): merged.value = .double(old + new)
        case (.map(var old), .map(let new)):
            try apply(new, to: &old)
            merged.value = .map(old)
        default:
            throw TestMetadataError(
                file: entry.file, line: entry.line,
                message: "`\(entry.key)` cannot extend the inherited `\(key)`: they are of different kinds")
        }
        data.set(merged)
    }

    private static func minus(_ entry: FMFMap.Entry, key: String, into data: inout FMFMap) throws(TestMetadataError) {
        guard let existing = data[key] else { return }
        var reduced = data.entry(key)!
        switch (existing, entry.value) {
        case (.int(let old), .int(let new)): reduced.value = .int(old - new)
        case (.double(let old), .double(let new)): reduced.value = .double(old - new)
        case (.list(let old), .list(let new)): reduced.value = .list(old.filter { !new.contains($0) })
        case (.map(var old), .list(let keys)):
            for name in keys.compactMap(\.text) { old.remove(name) }
            reduced.value = .map(old)
        case (.string(let old), .string(let pattern)):
            reduced.value = .string(old.replacingOccurrences(of: pattern, with: "", options: .regularExpression))
        default:
            throw TestMetadataError(
                file: entry.file, line: entry.line,
                message: "`\(entry.key)` cannot reduce the inherited `\(key)`: they are of different kinds")
        }
        data.set(reduced)
    }
}
