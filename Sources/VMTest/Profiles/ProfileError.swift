/// A profile that cannot be used, with where and how to fix it.
///
/// Every problem in a profile is reported as exactly one of these, so the command line
/// can print one clear message and exit with the "bad input" status before booting.
public struct ProfileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file as the user named it (or the profile name when no file is involved).
    public var file: String
    public var location: SourceLocation?
    public var message: String
    public var fix: String?

    public init(file: String, location: SourceLocation? = nil, message: String, fix: String? = nil) {
        self.file = file
        self.location = location
        self.message = message
        self.fix = fix
    }

    public var description: String {
        var text = file
        if let location { text += ", line \(location.line)" }
        text += ": \(message)"
        if let fix { text += "\n  fix: \(fix)" }
        return text
    }
}
