import Foundation

/// The profiles a user can name: YAML files in the profile folders of a
/// ``DataSearchPath``, the first folder holding a name winning.
///
/// A name with a `/` or a `.yaml` ending is a file path; anything else is looked up in
/// the catalog's folders.
public struct ProfileCatalog: Sendable {
    /// The folders looked in, in order (absent ones included, so errors can name them).
    public let locations: [DataSearchPath.Location]

    /// A catalog of one folder.
    public init(directory: URL) {
        self.locations = [DataSearchPath.Location(directory: directory, origin: .option("directory"))]
    }

    public init(locations: [DataSearchPath.Location]) {
        self.locations = locations
    }

    /// The standard search order (see ``DataSearchPath``), `--profiles DIR` first when given.
    public static func standard(option directory: URL? = nil, search: DataSearchPath = .standard()) -> ProfileCatalog {
        ProfileCatalog(locations: search.locations(of: .profiles, option: directory.map { ("--profiles", $0) }))
    }

    /// A profile the catalog can name: the file that wins, and the shipped files of the
    /// same name it hides (a user's copy of a shipped profile).
    public struct Entry: Sendable, Hashable {
        public var name: String
        public var file: URL
        public var location: DataSearchPath.Location
        /// Shipped profiles of the same name in later folders, which this one shadows.
        public var shadowedShipped: [URL]
    }

    /// Every profile, sorted by name, each from the first folder that has it.
    public func entries() -> [Entry] {
        var byName: [String: Entry] = [:]
        for location in locations where location.exists {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: location.directory.path)) ?? []
            for file in files.sorted() where file.hasSuffix(".yaml") {
                let name = String(file.dropLast(5))
                let url = location.directory.appendingPathComponent(file)
                if var entry = byName[name] {
                    if location.origin.isShipped && !entry.location.origin.isShipped { entry.shadowedShipped.append(url) }
                    byName[name] = entry
                } else {
                    byName[name] = Entry(name: name, file: url, location: location, shadowedShipped: [])
                }
            }
        }
        return byName.values.sorted { $0.name < $1.name }
    }

    /// Names of the profiles, sorted.
    public func names() -> [String] {
        entries().map(\.name)
    }

    /// The file a name stands for: the first folder's that has it (else where the first
    /// folder would hold it).
    public func file(named name: String) -> URL {
        entries().first { $0.name == name }?.file
            ?? (locations.first?.directory ?? URL(fileURLWithPath: "profiles")).appendingPathComponent("\(name).yaml")
    }

    /// Where the catalog looked, one folder a line, for "nothing found" messages.
    public var searchedDescription: String {
        locations.map { "  \($0.directory.path) (\($0.origin.label)\($0.exists ? "" : ", absent"))" }.joined(separator: "\n")
    }

    /// Loads a profile by name or by path.
    public func load(_ nameOrPath: String) throws(ProfileError) -> Profile {
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".yaml") || nameOrPath.hasSuffix(".yml") {
            return try ProfileLoader.load(file: URL(fileURLWithPath: nameOrPath))
        }
        let available = names()
        let searched = locations.filter(\.exists).map(\.directory.relativePathForDisplay)
        guard available.contains(nameOrPath) else {
            let suggestion = closestMatch(to: nameOrPath, among: available)
            throw ProfileError(
                file: nameOrPath,
                message: "no profile named '\(nameOrPath)' in "
                    + (searched.isEmpty ? "any profile folder (none exists)" : searched.joined(separator: ", "))
                    + (suggestion.map { "; did you mean '\($0)'?" } ?? ""),
                fix: available.isEmpty
                    ? "no profiles were found; put some in ~/.config/vmtest/profiles, set VMTEST_PROFILES to a directory of profiles, or give a path to a .yaml file"
                    : "use one of: \(available.joined(separator: ", "))")
        }
        return try ProfileLoader.load(file: file(named: nameOrPath))
    }
}
