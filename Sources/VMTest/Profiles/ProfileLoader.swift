import Foundation

/// Reads a profile file: YAML syntax, then shape, then meaning, stopping at the first problem.
public enum ProfileLoader {
    public static func load(file: URL) throws(ProfileError) -> Profile {
        let shownPath = file.relativePathForDisplay
        let text: String
        do {
            text = try TextFile.read(file)
        } catch {
            throw ProfileError(file: shownPath, message: error.problem, fix: error.fix ?? "check the path, or run `vmtest profiles list`")
        }
        return try parse(yaml: text, name: file.deletingPathExtension().lastPathComponent, file: shownPath)
    }

    public static func parse(yaml: String, name: String, file: String) throws(ProfileError) -> Profile {
        var profile: Profile
        let locations: YAMLLocations
        do {
            (profile, locations) = try StrictYAMLDecoder.decode(Profile.self, from: yaml)
        } catch {
            throw ProfileError(file: file, location: error.location, message: error.message, fix: error.fix)
        }
        profile.name = name
        if let issue = ProfileValidator.firstIssue(in: profile) {
            throw ProfileError(file: file, location: locations.location(of: issue.path), message: issue.message, fix: issue.fix)
        }
        return profile
    }
}

extension URL {
    /// The path relative to the working directory when it lies below it: what a person typed.
    var relativePathForDisplay: String {
        let cwd = FileManager.default.currentDirectoryPath + "/"
        return path.hasPrefix(cwd) ? String(path.dropFirst(cwd.count)) : path
    }
}
