/// The restrictions a DEP-8 stanza may declare (autopkgtest's `README.package-tests`).
/// A stanza declaring one autopkgtest does not know is refused (a misspelling, most likely).
public enum DEP8Restriction: String, Sendable, CaseIterable {
    case allowStderr = "allow-stderr"
    case breaksTestbed = "breaks-testbed"
    case buildNeeded = "build-needed"
    case flaky
    case hintTestsuiteTriggers = "hint-testsuite-triggers"
    case isolationContainer = "isolation-container"
    case isolationMachine = "isolation-machine"
    case needsInternet = "needs-internet"
    case needsReboot = "needs-reboot"
    case needsRecommends = "needs-recommends"
    case needsRoot = "needs-root"
    case needsSudo = "needs-sudo"
    case rwBuildTree = "rw-build-tree"
    case skipNotInstallable = "skip-not-installable"
    case skippable
    case superficial

    /// Why vmtest does not run a test with this restriction; `nil` for those it honours.
    /// A throw-away virtual machine is the isolation every other restriction asks for.
    var unsupportedReason: String? {
        switch self {
        case .buildNeeded: "needs a built source tree; vmtest tests installed packages and builds nothing"
        case .hintTestsuiteTriggers: "a hint for dpkg-source, never run (autopkgtest does the same)"
        case .needsSudo: "needs a non-root user with sudo, which vmtest's guests do not set up"
        case .needsInternet: "needs the internet; vmtest's guests are offline (their packages come from the run's own repository)"
        default: nil
        }
    }
}
