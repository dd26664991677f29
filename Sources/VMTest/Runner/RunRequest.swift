import Foundation

/// What `vmtest run` was asked to do.
public struct RunRequest: Sendable {
    public var profile: Profile
    public var rpmPaths: [String]
    /// `.deb` files, installed with apt from the run's served repository.
    public var debPaths: [String] = []
    /// `--repo DIR`: folders of RPMs and .debs served beside the run's packages, which the
    /// guest's dnf, yum or apt installs from when the packages depend on them.
    public var repositoryPaths: [String] = []
    /// `--update`: RPMs and .debs (files, or folders of them) the installed system is
    /// upgraded to after the run's own packages are installed.
    public var updatePaths: [String] = []
    /// `--reboot`: reboot after the update whatever it changed.
    public var rebootAfterUpdate = false
    public var commands: [String]
    public var testsDirectory: String?
    /// `--tests-from`: a source tree, a `.dsc` or an fmf tree whose tests run as written.
    public var testsFrom: String?
    /// `--filter`, in tmt's syntax, over the tmt tests found.
    public var testFilter: String?
    public var channel: ChannelKind?
    /// nil means `./vmtest-results/RUN-ID`.
    public var resultsDirectory: String?
    /// Whole-run limit; nil scales a default by accelerator.
    public var timeout: Duration?
    /// Per-test limit; nil scales a default by accelerator.
    public var testTimeout: Duration?
    public var connectURI: String?
    /// Keep the guest running when anything failed, for a person to debug.
    public var keepOnFailure: Bool
    /// A package whose executables are built for another machine is an error, not a warning.
    public var strict = false
    /// Workarounds forced or disabled on the command line, over the profile's.
    public var workarounds = WorkaroundSelection.none
    /// Boot from the kernel even when a saved state could be restored.
    public var cold = false
    /// What `--accel` / `--guest-kernel` force.
    public var accelerator = AcceleratorRequest.automatic

    public init(
        profile: Profile, rpmPaths: [String] = [], commands: [String] = [], testsDirectory: String? = nil,
        channel: ChannelKind? = nil, resultsDirectory: String? = nil, timeout: Duration? = nil,
        testTimeout: Duration? = nil, connectURI: String? = nil, keepOnFailure: Bool = false
    ) {
        self.keepOnFailure = keepOnFailure
        self.profile = profile
        self.rpmPaths = rpmPaths
        self.commands = commands
        self.testsDirectory = testsDirectory
        self.channel = channel
        self.resultsDirectory = resultsDirectory
        self.timeout = timeout
        self.testTimeout = testTimeout
        self.connectURI = connectURI
    }
}
