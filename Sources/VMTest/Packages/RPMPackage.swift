import Foundation

/// An RPM file given on the command line, checked before anything boots.
public struct RPMPackage: Sendable, Hashable {
    public var file: URL
    public var name: String
    public var version: String
    public var arch: String
    public var requires: [String]
    /// Packaged ELF files built for another machine than `arch` says.
    public var mislabelled: [PackagedELF]

    /// Reads the package's header and its payload's ELF headers in Swift, so a typo, a
    /// truncated download, a source RPM or a cross-build labelled for the wrong
    /// architecture fails in a second with a clear message instead of after a boot.
    public static func inspect(_ path: String) async throws -> RPMPackage {
        let file = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file.path, isDirectory: &isDirectory) else {
            throw RunInputError(subject: path, problem: "no such file", fix: "check the path given to --rpm")
        }
        guard !isDirectory.boolValue else {
            throw RunInputError(subject: path, problem: "is a directory, not an RPM file", fix: "give --rpm one .rpm file per option")
        }
        guard FileManager.default.isReadableFile(atPath: file.path) else {
            throw RunInputError(subject: path, problem: "cannot be read", fix: "check its permissions")
        }
        let rpm: RPMFile
        do {
            rpm = try RPMFile.read(file)
        } catch {
            switch error.kind {
            case .notAnRPM:
                throw RunInputError(
                    subject: path, problem: "is not an RPM package (no RPM lead)", fix: "give the .rpm file built by rpmbuild")
            default:
                // RPMError's text starts with the file's path; the subject says it already.
                let problem = String(error.description.dropFirst(error.file.count + 2))
                throw RunInputError(subject: path, problem: problem, fix: "rebuild it, or download it again")
            }
        }
        guard !rpm.isSource else {
            throw RunInputError(
                subject: path, problem: "is a source RPM (\(rpm.nevra)); vmtest installs binary packages",
                fix: "build the binary package with `rpmbuild --rebuild --target armv7hl` and give that")
        }
        // Decompressing the payload blocks; keep it off the cooperative threads.
        let elves = try await onThreadOfItsOwn { try rpm.executables() }
        return RPMPackage(
            file: file, name: rpm.name, version: "\(rpm.version)-\(rpm.release)", arch: rpm.arch,
            requires: rpm.requires, mislabelled: elves.mislabelledFiles(forArch: rpm.arch))
    }
}
