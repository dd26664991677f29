import Foundation

/// How one guest boots, decided before it starts: where it runs (``Placement``), from
/// which image and kernel, and as which domain, with the workarounds applied to it once.
/// The launcher only reads it; it adds the run's own files (seed, payload, forwarded
/// port, console log) and nothing else.
public struct GuestPlan: Sendable {
    public let profile: Profile
    public let runID: String
    /// The run's folder under the runs directory: its overlay, console log, key and seed.
    public let runDirectory: URL
    public let placement: Placement
    public let image: BaseImage
    /// The 64-bit kernel an armv7l userland boots under, when the placement runs one.
    public let compatKernel: CompatKernel?
    /// The domain as decided, workarounds applied.
    public let definition: DomainDefinition
    /// What the workarounds changed, in words, for the report.
    public let appliedWorkarounds: [RunReport.AppliedWorkaround]
    /// Environment the workarounds give test commands (e.g. JAVA_TOOL_OPTIONS).
    public let testEnvironment: [String: String]
    /// What the workarounds were chosen from: kept so that a placement changed at boot
    /// (a refused 32-bit vCPU) is decided again the same way.
    let workarounds: WorkaroundSelection
    let packages: [InstalledPackage]

    public var mode: AcceleratorChoice { placement.mode }

    /// How long a guest may take to answer on its console when nobody said: emulation is
    /// 10-50x slower than KVM.
    public var defaultReadyTimeout: Duration { placement.mode.accelerator == .tcg ? .seconds(300) : .seconds(90) }

    /// Decides the plan: the domain `launcher.definition(...)` renders for the placement,
    /// with the selected workarounds applied. The one place a domain's workarounds apply.
    init(
        profile: Profile, runID: String, runDirectory: URL, placement: Placement, image: BaseImage, compatKernel: CompatKernel?,
        workarounds: WorkaroundSelection, packages: [InstalledPackage], launcher: GuestLauncher
    ) {
        self.profile = profile
        self.runID = runID
        self.runDirectory = runDirectory
        self.placement = placement
        self.image = image
        self.compatKernel = compatKernel
        self.workarounds = workarounds
        self.packages = packages
        let base = launcher.definition(
            for: profile, mode: placement.mode, image: image, compatKernel: compatKernel, runID: runID, runDirectory: runDirectory)
        let context = WorkaroundContext(definition: base, host: placement.host, packages: packages)
        (definition, appliedWorkarounds) = workarounds.apply(to: base, context: context)
        testEnvironment = workarounds.environment(in: context)
    }

    /// The domain with the run's own files attached: the seed after the overlay, then
    /// the payload disk, the forwarded port and where the console log goes.
    func definition(attaching options: LaunchOptions) -> DomainDefinition {
        var definition = definition
        if let seed = options.seed { definition.disks.append(.init(kind: .readOnlyImage, path: seed.path)) }
        if let payload = options.payload { definition.disks.append(.init(kind: .payload, path: payload.path)) }
        definition.sshForwardPort = options.sshForwardPort
        if let log = options.consoleLog { definition.consoleLog = log.path }
        return definition
    }
}
