import Foundation

/// A run with every decision made, for one hypervisor: nothing can fail for bad input any
/// more. Made once by ``PackageTestRunner/prepare(_:connectURI:)``; everything later only
/// reads it.
public struct PreparedRun: Sendable {
    /// What was asked and checked: packages, tests, channel, results folder, run ID.
    public let inputs: RunInputs
    /// The guest: placement (hypervisor, host, accelerator), image, domain with the
    /// workarounds applied.
    public let guest: GuestPlan
    /// Whole-run limit: the request's, or a default scaled by the accelerator.
    public let timeout: Duration
    /// Per-test limit: the request's, or a default scaled by the accelerator.
    public let testTimeout: Duration

    init(inputs: RunInputs, guest: GuestPlan) {
        self.inputs = inputs
        self.guest = guest
        // Emulation is 10-50x slower than KVM, so the default limits grow with it.
        let slow = guest.mode.accelerator == .tcg
        timeout = inputs.request.timeout ?? .seconds(slow ? 1800 : 600)
        testTimeout = inputs.request.testTimeout ?? .seconds(slow ? 600 : 120)
    }

    /// How long the guest may take to answer after a boot or a reboot: half the run's
    /// time, as a nested or loaded host boots slowly even under KVM, and --timeout is the
    /// one limit a user sets for that.
    public var readyTimeout: Duration { timeout / 2 }

    public var profile: Profile { inputs.request.profile }
    public var runID: String { inputs.runID }
    public var packages: [RPMPackage] { inputs.packages }
    public var debs: [DebianPackageFile] { inputs.debs }
    public var testScripts: [URL] { inputs.testScripts }
    public var commands: [String] { inputs.request.commands }
    public var channel: ChannelKind { inputs.channel }
    public var results: URL { inputs.results }
    /// The hypervisor, its host and how the guest runs there.
    public var placement: Placement { guest.placement }
    public var accelerator: AcceleratorChoice { guest.mode }
    /// How reports name the hypervisor.
    public var connection: String { placement.hypervisor.requestedURI ?? "embedded qemu:///embed" }
    /// What the workarounds will change, decided before boot so it can be printed and reported.
    public var appliedWorkarounds: [RunReport.AppliedWorkaround] { guest.appliedWorkarounds }
    /// Environment the workarounds give test commands (e.g. JAVA_TOOL_OPTIONS).
    public var testEnvironment: [String: String] { guest.testEnvironment }

    /// The guest is provisioned with cloud-init: the SSH channel needs its key, and a
    /// profile's own cloud-config needs it applied. A serial run of a profile without
    /// cloud-config needs nothing cloud-init does, so it neither gets a seed nor waits
    /// minutes of emulated Python for cloud-init to finish.
    public var provisionsWithCloudInit: Bool {
        profile.provisioning == .cloudInit && (channel == .ssh || profile.cloudInitUserData != nil)
    }
}
