import Foundation

/// A run with every decision made, for one hypervisor: nothing can fail for bad input any more.
public struct PreparedRun: Sendable {
    public var request: RunRequest
    public var runID: String
    public var packages: [RPMPackage]
    public var testScripts: [URL]
    public var channel: ChannelKind
    public var results: URL
    /// The hypervisor, its host and how the guest runs there: decided once, here.
    public var placement: Placement
    public var accelerator: AcceleratorChoice { placement.mode }
    /// The guest is provisioned with cloud-init: the SSH channel needs its key, and a
    /// profile's own cloud-config needs it applied. A serial run of a profile without
    /// cloud-config needs nothing cloud-init does, so it neither gets a seed nor waits
    /// minutes of emulated Python for cloud-init to finish.
    public var provisionsWithCloudInit: Bool {
        request.profile.provisioning == .cloudInit && (channel == .ssh || request.profile.cloudInitUserData != nil)
    }
    public var workarounds: WorkaroundSelection
    /// What the workarounds will change, decided before boot so it can be printed and reported.
    public var appliedWorkarounds: [RunReport.AppliedWorkaround]
    /// Environment the workarounds give test commands (e.g. JAVA_TOOL_OPTIONS).
    public var testEnvironment: [String: String]
    public var timeout: Duration
    public var testTimeout: Duration
}
