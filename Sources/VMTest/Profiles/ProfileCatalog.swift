import Foundation

/// The profiles a user can name: YAML files in a profiles directory.
///
/// A name with a `/` or a `.yaml` ending is a file path; anything else is looked up in
/// the catalog's directory.
public struct ProfileCatalog: Sendable {
    public let directory: URL

    public init(directory: URL) {
        self.directory = directory
    }

    /// `$VMTEST_PROFILES`, else `./profiles`, else the `profiles/` of the source tree the
    /// running executable was built from (so `.build/debug/vmtest` works from anywhere).
    public static func standard(executablePath: String = CommandLine.arguments[0]) -> ProfileCatalog {
        let fileManager = FileManager.default
        if let configured = ProcessInfo.processInfo.environment["VMTEST_PROFILES"], !configured.isEmpty {
            return ProfileCatalog(directory: URL(fileURLWithPath: configured))
        }
        let local = URL(fileURLWithPath: fileManager.currentDirectoryPath).appendingPathComponent("profiles")
        if fileManager.fileExists(atPath: local.path) { return ProfileCatalog(directory: local) }
        var directory = URL(fileURLWithPath: executablePath).resolvingSymlinksInPath().deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent("profiles")
            if fileManager.fileExists(atPath: candidate.appendingPathComponent("debian12-armhf.yaml").path) {
                return ProfileCatalog(directory: candidate)
            }
            directory.deleteLastPathComponent()
        }
        return ProfileCatalog(directory: local)
    }

    /// Names of the profiles in the directory, sorted.
    public func names() -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return files.filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) }.sorted()
    }

    public func file(named name: String) -> URL {
        directory.appendingPathComponent("\(name).yaml")
    }

    /// Loads a profile by name or by path.
    public func load(_ nameOrPath: String) throws(ProfileError) -> Profile {
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".yaml") || nameOrPath.hasSuffix(".yml") {
            return try ProfileLoader.load(file: URL(fileURLWithPath: nameOrPath))
        }
        let available = names()
        guard available.contains(nameOrPath) else {
            let suggestion = closestMatch(to: nameOrPath, among: available)
            throw ProfileError(
                file: nameOrPath,
                message: "no profile named '\(nameOrPath)' in \(directory.relativePathForDisplay)"
                    + (suggestion.map { "; did you mean '\($0)'?" } ?? ""),
                fix: available.isEmpty
                    ? "set VMTEST_PROFILES to a directory of profiles, or give a path to a .yaml file"
                    : "use one of: \(available.joined(separator: ", "))")
        }
        return try ProfileLoader.load(file: file(named: nameOrPath))
    }
}
