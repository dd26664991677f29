import Foundation

/// An RPM file given on the command line, checked before anything boots.
public struct RPMPackage: Sendable, Hashable {
    public var file: URL
    public var name: String
    public var version: String
    public var arch: String

    /// The lead's first four bytes (RPM file format, "Package File Format" in the LSB).
    static let magic: [UInt8] = [0xED, 0xAB, 0xEE, 0xDB]
    static let rpmTool = ExternalTool("rpm", debianPackage: "rpm")

    /// Reads the package's name and architecture with `rpm -qp`, after checking that the
    /// file exists, is readable and starts like an RPM, so a typo fails in a second with
    /// a clear message instead of after a boot.
    public static func inspect(_ path: String) async throws -> RPMPackage {
        let file = URL(fileURLWithPath: path)
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw RunInputError(subject: path, problem: "no such file", fix: "check the path given to --rpm")
        }
        guard let handle = FileHandle(forReadingAtPath: file.path) else {
            throw RunInputError(subject: path, problem: "cannot be read", fix: "check its permissions")
        }
        let head = (try? handle.read(upToCount: 4)).map { [UInt8]($0) } ?? []
        try? handle.close()
        guard head == magic else {
            throw RunInputError(subject: path, problem: "is not an RPM package (no RPM lead)", fix: "give the .rpm file built by rpmbuild")
        }
        let fields: String
        do {
            fields = try await rpmTool.run(["-qp", "--nosignature", "--nodigest", "--qf", "%{NAME}\t%{VERSION}-%{RELEASE}\t%{ARCH}", file.path])
        } catch let error as ToolError {
            if case .missing = error { throw error }
            throw RunInputError(subject: path, problem: "is a damaged RPM (rpm cannot read its header)", fix: "rebuild or download it again")
        }
        let parts = fields.split(separator: "\t").map(String.init)
        guard parts.count == 3 else {
            throw RunInputError(subject: path, problem: "has an unreadable header", fix: "rebuild or download it again")
        }
        return RPMPackage(file: file, name: parts[0], version: parts[1], arch: parts[2])
    }
}

/// Bad input to `vmtest run` found before booting: exit status 2.
public struct RunInputError: Error, Sendable, CustomStringConvertible {
    public var subject: String
    public var problem: String
    public var fix: String

    public init(subject: String, problem: String, fix: String) {
        self.subject = subject
        self.problem = problem
        self.fix = fix
    }

    public var description: String { "\(subject): \(problem)\n  fix: \(fix)" }
}
