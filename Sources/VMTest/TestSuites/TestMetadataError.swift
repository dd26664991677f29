/// Test metadata that cannot be used: a DEP-8 control file or an fmf tree with a mistake,
/// named by file and line so the packager can fix it before anything boots.
public struct TestMetadataError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file as found under the tests' source (or the source itself when no file is involved).
    public var file: String
    public var line: Int?
    public var message: String
    public var fix: String?

    public init(file: String, line: Int? = nil, message: String, fix: String? = nil) {
        self.file = file
        self.line = line
        self.message = message
        self.fix = fix
    }

    public var description: String {
        var text = file
        if let line { text += ", line \(line)" }
        text += ": \(message)"
        if let fix { text += "\n  fix: \(fix)" }
        return text
    }
}
