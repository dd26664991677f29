import Foundation

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
