import Foundation

/// Where vmtest finds its data files: profiles, plans, cloud-init templates and image
/// recipes. One order for all four kinds, so a user's file wins over a shipped one the
/// same way whatever it is, and a vmtest copied or installed anywhere still finds what
/// it ships:
///
/// 1. the directory given on the command line (`--profiles DIR`), if any;
/// 2. the kind's environment variable (``Kind/environmentVariable``);
/// 3. `./KIND` in the working directory;
/// 4. `$XDG_CONFIG_HOME/vmtest/KIND` (default `~/.config/vmtest/KIND`);
/// 5. `/etc/vmtest/KIND`;
/// 6. `PREFIX/share/vmtest/KIND`, PREFIX being the folder above the running executable's
///    `bin/` (where `script/install` and the .deb and .rpm put them);
/// 7. the source tree's `KIND/` (the tree vmtest was compiled in, so `.build/debug/vmtest`
///    works from any folder).
///
/// The first five are the user's (or the machine's administrator's); the last two are
/// what vmtest ships. Folders that do not exist are skipped when looking things up and
/// still named when saying where vmtest looked.
public struct DataSearchPath: Sendable, Hashable {
    /// What is looked for; the raw value is the folder name in every location.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case profiles
        case plans
        case cloudInit = "cloud-init"
        case images

        /// The variable naming a folder of this kind's files.
        public var environmentVariable: String {
            switch self {
            case .profiles: "VMTEST_PROFILES"
            case .plans: "VMTEST_PLANS"
            case .cloudInit: "VMTEST_CLOUD_INIT"
            case .images: "VMTEST_IMAGES_DIR"
            }
        }
    }

    /// Why a folder is in the search path.
    public enum Origin: Sendable, Hashable {
        case option(String)
        case environment(String)
        case workingDirectory
        case userConfiguration
        case systemConfiguration
        case installed
        case sourceTree

        /// Shipped with vmtest rather than added by a user.
        public var isShipped: Bool {
            switch self {
            case .installed, .sourceTree: true
            default: false
            }
        }

        /// How `vmtest profiles list` names it.
        public var label: String {
            switch self {
            case .option(let name): name
            case .environment(let variable): "$\(variable)"
            case .workingDirectory: "working directory"
            case .userConfiguration: "user configuration"
            case .systemConfiguration: "system configuration"
            case .installed: "installed"
            case .sourceTree: "source tree"
            }
        }
    }

    /// One folder of the search path.
    public struct Location: Sendable, Hashable {
        public var directory: URL
        public var origin: Origin

        public init(directory: URL, origin: Origin) {
            self.directory = directory
            self.origin = origin
        }

        public var exists: Bool {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: directory.path, isDirectory: &isDirectory) && isDirectory.boolValue
        }
    }

    public var environment: [String: String]
    public var workingDirectory: URL
    /// The running executable, symbolic links resolved.
    public var executable: URL
    public var systemConfiguration: URL
    /// The repository vmtest was compiled from.
    public var sourceTree: URL

    public init(
        environment: [String: String], workingDirectory: URL, executable: URL,
        systemConfiguration: URL = URL(fileURLWithPath: "/etc/vmtest"), sourceTree: URL = DataSearchPath.compiledSourceTree
    ) {
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.executable = executable
        self.systemConfiguration = systemConfiguration
        self.sourceTree = sourceTree
    }

    /// This process's search path.
    public static func standard() -> DataSearchPath {
        DataSearchPath(
            environment: ProcessInfo.processInfo.environment,
            workingDirectory: URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
            executable: runningExecutable())
    }

    /// Sources/VMTest/Support/DataSearchPath.swift -> the repository's root.
    public static let compiledSourceTree = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The executable itself, also when it was started through `PATH` or a symbolic link
    /// (`arguments[0]` is then just `vmtest`, relative to nothing).
    static func runningExecutable() -> URL {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return URL(fileURLWithPath: path)
        }
        return URL(fileURLWithPath: CommandLine.arguments.first ?? "vmtest").resolvingSymlinksInPath()
    }

    /// The installation prefix the executable is in: the folder above its `bin/`.
    public var installationPrefix: URL {
        executable.deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The folders to look in for `kind`, in order, existing or not.
    ///
    /// - Parameter option: a folder given on the command line, searched first.
    public func locations(of kind: Kind, option: (name: String, directory: URL)? = nil) -> [Location] {
        var locations: [Location] = []
        if let option { locations.append(Location(directory: option.directory, origin: .option(option.name))) }
        if let configured = environment[kind.environmentVariable], !configured.isEmpty {
            locations.append(
                Location(
                    directory: URL(fileURLWithPath: configured, relativeTo: workingDirectory).standardizedFileURL,
                    origin: .environment(kind.environmentVariable)))
        }
        locations.append(Location(directory: workingDirectory.appendingPathComponent(kind.rawValue), origin: .workingDirectory))
        let configHome =
            environment["XDG_CONFIG_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: environment["HOME"] ?? NSHomeDirectory()).appendingPathComponent(".config")
        locations.append(
            Location(
                directory: configHome.appendingPathComponent("vmtest").appendingPathComponent(kind.rawValue), origin: .userConfiguration))
        locations.append(Location(directory: systemConfiguration.appendingPathComponent(kind.rawValue), origin: .systemConfiguration))
        locations.append(
            Location(
                directory: installationPrefix.appendingPathComponent("share/vmtest").appendingPathComponent(kind.rawValue),
                origin: .installed))
        locations.append(Location(directory: sourceTree.appendingPathComponent(kind.rawValue), origin: .sourceTree))
        // The same folder reached two ways (./profiles in the source tree) counts once, first.
        var seen = Set<String>()
        return locations.filter { seen.insert($0.directory.standardizedFileURL.path).inserted }
    }

    /// The first `relativePath` (a file or a folder) in `kind`'s locations that `isUsable`
    /// accepts, with the location it was found in.
    public func find(
        _ relativePath: String, in kind: Kind, option: (name: String, directory: URL)? = nil,
        where isUsable: (URL) -> Bool = { FileManager.default.fileExists(atPath: $0.path) }
    ) -> (url: URL, location: Location)? {
        for location in locations(of: kind, option: option) where location.exists {
            let candidate = location.directory.appendingPathComponent(relativePath)
            if isUsable(candidate) { return (candidate, location) }
        }
        return nil
    }

    /// Every `relativePath` in `kind`'s locations that `isUsable` accepts, first wins.
    public func findAll(
        _ relativePath: String, in kind: Kind, option: (name: String, directory: URL)? = nil,
        where isUsable: (URL) -> Bool = { FileManager.default.fileExists(atPath: $0.path) }
    ) -> [(url: URL, location: Location)] {
        locations(of: kind, option: option).filter(\.exists).compactMap { location in
            let candidate = location.directory.appendingPathComponent(relativePath)
            return isUsable(candidate) ? (candidate, location) : nil
        }
    }

    /// An image recipe folder (`images/NAME`, holding `init`, `hooks/`, `rootfs/`).
    public func imageRecipe(named name: String) -> URL? {
        find(name, in: .images) { FileManager.default.fileExists(atPath: $0.appendingPathComponent("init").path) }?.url
    }

    /// The folder of cloud-init templates (`meta-data`, `user-data`, `network-config`).
    public func cloudInitTemplates() -> URL? {
        find("user-data", in: .cloudInit)?.url.deletingLastPathComponent()
    }

    /// A plan given as a path or a name: an existing file as given (relative to the
    /// working directory), else `NAME`, `NAME.yaml` (a leading `plans/` dropped) in the
    /// plan folders. Nil when none exists.
    public func plan(_ argument: String) -> URL? {
        let given = URL(fileURLWithPath: argument, relativeTo: workingDirectory).standardizedFileURL
        if FileManager.default.fileExists(atPath: given.path) || argument.hasPrefix("/") {
            return FileManager.default.fileExists(atPath: given.path) ? given : nil
        }
        let relative = argument.hasPrefix("plans/") ? String(argument.dropFirst("plans/".count)) : argument
        let names = relative.hasSuffix(".yaml") || relative.hasSuffix(".yml") ? [relative] : [relative, relative + ".yaml"]
        for name in names {
            if let found = find(name, in: .plans) { return found.url }
        }
        return nil
    }

    /// Where `kind` was looked for, one folder a line, for error messages.
    public func describeLocations(of kind: Kind, option: (name: String, directory: URL)? = nil) -> String {
        locations(of: kind, option: option).map {
            "  \($0.directory.path) (\($0.origin.label)\($0.exists ? "" : ", absent"))"
        }.joined(separator: "\n")
    }
}
