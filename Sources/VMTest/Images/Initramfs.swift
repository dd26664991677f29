import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// MARK: - newc cpio writer

/// A cpio archive in the "newc" format (`070701`), the format the Linux kernel unpacks as an
/// initramfs.
///
/// Written here rather than with the host `cpio` tool because the archive then needs no
/// files on disk with the right owners: every entry is owned by root, device nodes such as
/// `/dev/console` need no `mknod` (and no root), and the output is byte-for-byte
/// reproducible (fixed inode numbers and mtimes).
public struct CPIOArchive: Sendable {
    public enum Kind: Sendable, Equatable {
        case directory
        case file(Data)
        case symlink(target: String)
        case characterDevice(major: UInt32, minor: UInt32)
    }

    public struct Entry: Sendable, Equatable {
        /// Path inside the archive, without a leading slash (`bin/busybox`).
        public var path: String
        /// Permission bits (`0o755`); the file-type bits come from ``kind``.
        public var permissions: UInt32
        public var kind: Kind

        public init(path: String, permissions: UInt32, kind: Kind) {
            self.path = path
            self.permissions = permissions
            self.kind = kind
        }
    }

    public enum ArchiveError: Error, Equatable, CustomStringConvertible {
        case invalidPath(String)
        case duplicatePath(String)
        case tooLarge(String)

        public var description: String {
            switch self {
            case .invalidPath(let path): "invalid cpio entry path '\(path)'"
            case .duplicatePath(let path): "cpio entry '\(path)' was added twice"
            case .tooLarge(let path): "cpio entry '\(path)' is larger than 4 GiB"
            }
        }
    }

    public private(set) var entries: [Entry] = []
    private var paths: Set<String> = []

    public init() {}

    public mutating func addDirectory(_ path: String, permissions: UInt32 = 0o755) throws(ArchiveError) {
        try add(Entry(path: path, permissions: permissions, kind: .directory))
    }

    public mutating func addFile(_ path: String, contents: Data, permissions: UInt32 = 0o644) throws(ArchiveError) {
        try add(Entry(path: path, permissions: permissions, kind: .file(contents)))
    }

    public mutating func addSymlink(_ path: String, target: String) throws(ArchiveError) {
        try add(Entry(path: path, permissions: 0o777, kind: .symlink(target: target)))
    }

    public mutating func addCharacterDevice(_ path: String, major: UInt32, minor: UInt32, permissions: UInt32 = 0o600) throws(ArchiveError)
    {
        try add(Entry(path: path, permissions: permissions, kind: .characterDevice(major: major, minor: minor)))
    }

    /// Adds the directories leading to `path` that are not in the archive yet.
    public mutating func addParentDirectories(of path: String) throws(ArchiveError) {
        let components = Self.normalized(path).split(separator: "/").dropLast()
        var prefix = ""
        for component in components {
            prefix = prefix.isEmpty ? String(component) : prefix + "/" + component
            if !paths.contains(prefix) { try addDirectory(prefix) }
        }
    }

    public mutating func add(_ entry: Entry) throws(ArchiveError) {
        var entry = entry
        entry.path = Self.normalized(entry.path)
        guard !entry.path.isEmpty, !entry.path.utf8.contains(0),
            !entry.path.split(separator: "/").contains(where: { $0 == ".." || $0 == "." })
        else { throw .invalidPath(entry.path) }
        guard !paths.contains(entry.path) else { throw .duplicatePath(entry.path) }
        if case .file(let data) = entry.kind, data.count > Int(UInt32.max) { throw .tooLarge(entry.path) }
        paths.insert(entry.path)
        entries.append(entry)
    }

    private static func normalized(_ path: String) -> String {
        var path = Substring(path)
        while path.hasPrefix("/") { path = path.dropFirst() }
        while path.hasSuffix("/") { path = path.dropLast() }
        return String(path)
    }

    /// The archive bytes, entries in the order they were added, ending with `TRAILER!!!`.
    public func encoded() -> Data {
        var out = Data()
        out.reserveCapacity(
            entries.reduce(0) { total, entry in
                if case .file(let data) = entry.kind { return total + data.count + 128 + entry.path.utf8.count }
                return total + 128 + entry.path.utf8.count
            } + 128)
        for (index, entry) in entries.enumerated() {
            let mode: UInt32
            var body = Data()
            var rdevMajor: UInt32 = 0
            var rdevMinor: UInt32 = 0
            switch entry.kind {
            case .directory:
                mode = 0o040000
            case .file(let data):
                mode = 0o100000
                body = data
            case .symlink(let target):
                mode = 0o120000
                body = Data(target.utf8)
            case .characterDevice(let major, let minor):
                mode = 0o020000
                rdevMajor = major
                rdevMinor = minor
            }
            Self.appendEntry(
                to: &out, name: entry.path, inode: UInt32(index + 1),
                mode: mode | (entry.permissions & 0o7777),
                nlink: entry.kind == .directory ? 2 : 1,
                rdevMajor: rdevMajor, rdevMinor: rdevMinor, body: body
            )
        }
        Self.appendEntry(to: &out, name: "TRAILER!!!", inode: 0, mode: 0, nlink: 1, rdevMajor: 0, rdevMinor: 0, body: Data())
        return out
    }

    private static func appendEntry(
        to out: inout Data, name: String, inode: UInt32, mode: UInt32, nlink: UInt32,
        rdevMajor: UInt32, rdevMinor: UInt32, body: Data
    ) {
        let nameBytes = Array(name.utf8) + [0]
        // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor,
        // rdevmajor, rdevminor, namesize, check
        let fields: [UInt32] = [
            inode, mode, 0, 0, nlink, 0, UInt32(body.count), 0, 0,
            rdevMajor, rdevMinor, UInt32(nameBytes.count), 0,
        ]
        var header = "070701"
        for field in fields {
            let hex = String(field, radix: 16, uppercase: true)
            header += String(repeating: "0", count: 8 - hex.count) + hex
        }
        out.append(contentsOf: Array(header.utf8))
        out.append(contentsOf: nameBytes)
        padToFour(&out)
        out.append(body)
        padToFour(&out)
    }

    private static func padToFour(_ data: inout Data) {
        let remainder = data.count % 4
        if remainder != 0 { data.append(contentsOf: [UInt8](repeating: 0, count: 4 - remainder)) }
    }
}

// MARK: - kernel module dependencies

/// The module tables `depmod` writes into `/lib/modules/VERSION` (`modules.dep`,
/// `modules.softdep`, `modules.alias`, `modules.builtin`), enough to tell which `.ko` files
/// an initramfs needs and in which order to `insmod` them.
public struct KernelModuleIndex: Sendable {
    public enum ResolutionError: Error, Equatable, CustomStringConvertible {
        case unknownModule(String)
        case dependencyCycle([String])

        public var description: String {
            switch self {
            case .unknownModule(let name):
                "kernel module '\(name)' is neither a module file, a built-in module nor an alias in modules.dep/modules.builtin/modules.alias"
            case .dependencyCycle(let chain):
                "kernel module dependency cycle: \(chain.joined(separator: " -> "))"
            }
        }
    }

    /// Module name (normalised: `-` becomes `_`) to its path relative to the modules directory.
    public private(set) var paths: [String: String] = [:]
    /// Module name to the paths of the modules it needs (from `modules.dep`).
    public private(set) var hardDependencies: [String: [String]] = [:]
    /// Module name to the names (or aliases) modprobe loads before / after it.
    public private(set) var softPre: [String: [String]] = [:]
    public private(set) var softPost: [String: [String]] = [:]
    /// Alias patterns (fnmatch) to module names, in file order.
    public private(set) var aliases: [(pattern: String, module: String)] = []
    public private(set) var builtin: Set<String> = []

    public init(dep: String, softdep: String = "", alias: String = "", builtin: String = "") {
        for line in dep.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let path = String(line[..<colon]).trimmingCharacters(in: .whitespaces)
            guard !path.isEmpty else { continue }
            let name = Self.moduleName(ofPath: path)
            paths[name] = path
            hardDependencies[name] = line[line.index(after: colon)...].split(separator: " ").map(String.init)
        }
        for line in softdep.split(whereSeparator: \.isNewline) {
            let words = line.split(separator: " ").map(String.init)
            guard words.count >= 2, words[0] == "softdep" else { continue }
            let name = Self.normalize(words[1])
            var target: WritableKeyPath<KernelModuleIndex, [String: [String]]>? = nil
            for word in words.dropFirst(2) {
                if word == "pre:" {
                    target = \.softPre
                    continue
                }
                if word == "post:" {
                    target = \.softPost
                    continue
                }
                if let target { self[keyPath: target][name, default: []].append(word) }
            }
        }
        for line in alias.split(whereSeparator: \.isNewline) {
            let words = line.split(separator: " ")
            guard words.count == 3, words[0] == "alias" else { continue }
            aliases.append((String(words[1]), Self.normalize(String(words[2]))))
        }
        for line in builtin.split(whereSeparator: \.isNewline) where !line.isEmpty {
            self.builtin.insert(Self.moduleName(ofPath: String(line)))
        }
    }

    /// Reads the tables from a modules directory (`ROOT/lib/modules/VERSION`) after `depmod`.
    public init(modulesDirectory: URL) throws {
        func read(_ name: String, required: Bool = false) throws -> String {
            let url = modulesDirectory.appendingPathComponent(name)
            if !required, !FileManager.default.fileExists(atPath: url.path) { return "" }
            return try String(contentsOf: url, encoding: .utf8)
        }
        self.init(
            dep: try read("modules.dep", required: true), softdep: try read("modules.softdep"),
            alias: try read("modules.alias"), builtin: try read("modules.builtin")
        )
    }

    /// `kernel/fs/ext4/ext4.ko.xz` -> `ext4`; `-` and `_` are the same in module names.
    public static func moduleName(ofPath path: String) -> String {
        var base = Substring(path.split(separator: "/").last ?? Substring(path))
        for suffix in [".xz", ".zst", ".gz"] where base.hasSuffix(suffix) { base = base.dropLast(suffix.count) }
        if base.hasSuffix(".ko") { base = base.dropLast(3) }
        return normalize(String(base))
    }

    public static func normalize(_ name: String) -> String {
        name.replacingOccurrences(of: "-", with: "_")
    }

    /// The module names a name or alias stands for (`crypto-crc32c` -> `crc32c_generic`);
    /// empty for a built-in module; `nil` when unknown.
    public func resolve(_ nameOrAlias: String) -> [String]? {
        let name = Self.normalize(nameOrAlias)
        if paths[name] != nil { return [name] }
        if builtin.contains(name) { return [] }
        var matches: [String] = []
        for (pattern, module) in aliases where Self.matches(pattern: pattern, nameOrAlias) || Self.matches(pattern: pattern, name) {
            if !matches.contains(module) { matches.append(module) }
        }
        if matches.isEmpty { return nil }
        // Several modules for one alias are implementations of one thing (crypto-crc32c:
        // crc32c_generic and crc32-arm-ce, which needs the ARMv8 crypto extensions and fails
        // to load on a Cortex-A15): the generic one works on every CPU, take only it.
        if let generic = matches.first(where: { $0.hasSuffix("_generic") }), paths[generic] != nil { return [generic] }
        // An alias may name modules of both kinds; built-in ones need nothing loaded.
        return matches.filter { paths[$0] != nil }
    }

    private static func matches(pattern: String, _ string: String) -> Bool {
        if !pattern.contains(where: { "*?[".contains($0) }) { return pattern == string }
        return fnmatch(pattern, string, 0) == 0
    }

    /// Paths (relative to the modules directory) of every module needed to load `requested`,
    /// each after everything it depends on, each once. Soft dependencies (`softdep ... pre:`)
    /// are followed like modprobe does; an unknown soft dependency is skipped, an unknown
    /// requested module is an error. Built-in modules contribute nothing.
    public func loadOrder(for requested: [String]) throws(ResolutionError) -> [String] {
        var order: [String] = []
        var done: Set<String> = []
        var visiting: [String] = []

        func visit(_ name: String) throws(ResolutionError) {
            if done.contains(name) { return }
            if visiting.contains(name) { throw .dependencyCycle(visiting + [name]) }
            guard let path = paths[name] else { throw .unknownModule(name) }
            visiting.append(name)
            for soft in softPre[name] ?? [] {
                for module in resolve(soft) ?? [] where !visiting.contains(module) { try visit(module) }
            }
            // modules.dep lists the full transitive closure, but visiting each dependency
            // recursively makes the order right even when the list is not sorted.
            for dependency in hardDependencies[name] ?? [] {
                try visit(Self.moduleName(ofPath: dependency))
            }
            visiting.removeLast()
            done.insert(name)
            order.append(path)
            for soft in softPost[name] ?? [] {
                for module in resolve(soft) ?? [] { try visit(module) }
            }
        }

        for request in requested {
            guard let modules = resolve(request) else { throw .unknownModule(request) }
            for module in modules { try visit(module) }
        }
        return order
    }
}

// MARK: - the initramfs

/// A minimal initramfs: a static busybox, the modules needed to mount the root file system
/// and an `/init` script that loads them in order, mounts the root device and
/// `switch_root`s into it. No udev, no initramfs-tools: everything is assembled on the host.
public struct MinimalInitramfs: Sendable {
    /// The busybox binary for the guest's architecture (statically linked).
    public var busybox: Data
    /// The `/init` shell script; it reads `/etc/modules-load.order`.
    public var initScript: Data
    /// The kernel's modules directory (`ROOT/lib/modules/VERSION`).
    public var modulesDirectory: URL
    /// Modules (or aliases) to load; their dependencies are added.
    public var modules: [String]
    /// More entries, added after everything else: the compat kernel kit's module tree for
    /// the running system (``CompatKernelBuilder``). Parent directories are added as needed.
    public var additionalEntries: [CPIOArchive.Entry]

    public init(
        busybox: Data, initScript: Data, modulesDirectory: URL, modules: [String],
        additionalEntries: [CPIOArchive.Entry] = []
    ) {
        self.busybox = busybox
        self.initScript = initScript
        self.modulesDirectory = modulesDirectory
        self.modules = modules
        self.additionalEntries = additionalEntries
    }

    /// The uncompressed newc archive and the module paths it loads, in order.
    public func archive() throws -> (archive: Data, loadOrder: [String]) {
        let index = try KernelModuleIndex(modulesDirectory: modulesDirectory)
        let order = try index.loadOrder(for: modules)
        var cpio = CPIOArchive()
        for directory in ["bin", "dev", "etc", "lib", "lib/modules", "newroot", "proc", "sys", "tmp"] {
            try cpio.addDirectory(directory)
        }
        try cpio.addCharacterDevice("dev/console", major: 5, minor: 1)
        try cpio.addCharacterDevice("dev/null", major: 1, minor: 3, permissions: 0o666)
        try cpio.addFile("bin/busybox", contents: busybox, permissions: 0o755)
        try cpio.addSymlink("bin/sh", target: "busybox")
        try cpio.addFile("init", contents: initScript, permissions: 0o755)
        for path in order {
            let contents = try Data(contentsOf: modulesDirectory.appendingPathComponent(path))
            try cpio.addParentDirectories(of: "lib/modules/" + path)
            try cpio.addFile("lib/modules/" + path, contents: contents)
        }
        try cpio.addFile("etc/modules-load.order", contents: Data((order.joined(separator: "\n") + "\n").utf8))
        for entry in additionalEntries {
            try cpio.addParentDirectories(of: entry.path)
            try cpio.add(entry)
        }
        return (cpio.encoded(), order)
    }
}
