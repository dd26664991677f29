/// One test of a `debian/tests/control` file, as autopkgtest would run it.
public struct DEP8Test: Sendable, Equatable {
    public enum Program: Sendable, Equatable {
        /// A file under the source tree (`debian/tests/NAME`, or under `Tests-Directory`),
        /// made executable before it runs.
        case script(path: String)
        /// `Test-Command`, run under `bash -e` from the source tree's root.
        case command(String)
    }

    /// From `Tests`, `Features: test-name=`, or `commandN` for the N-th unnamed command.
    public var name: String
    public var program: Program
    public var restrictions: Set<DEP8Restriction>
    /// What the guest must have before the test, `@` already replaced by the source's
    /// binary packages.
    public var depends: DebianDependency
    /// Where the test's stanza starts in the control file.
    public var line: Int
    /// Set when the test is reported as skipped instead of run, with autopkgtest's reason.
    public var skipReason: String?

    public func has(_ restriction: DEP8Restriction) -> Bool { restrictions.contains(restriction) }
}
