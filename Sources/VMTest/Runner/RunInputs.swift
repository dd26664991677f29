import Foundation

/// A request whose inputs were checked, before any hypervisor is chosen: what a night
/// checks for every cell before anything boots.
public struct RunInputs: Sendable {
    public var request: RunRequest
    public var runID: String
    public var packages: [RPMPackage]
    public var debs: [DebianPackageFile] = []
    /// The RPMs and .debs of the `--repo` folders (each folder checked to hold some).
    public var repositories: [URL] = []
    /// `--update` packages, checked like the run's own.
    public var updates = PackageUpdates()
    public var testScripts: [URL]
    /// The packager's own tests found under `--tests-from`.
    public var suite: TestSource? = nil
    public var channel: ChannelKind
    public var results: URL
    public var workarounds: WorkaroundSelection
}
