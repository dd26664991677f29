import Foundation
import Libvirt
import Synchronization

/// Boots guests from profiles and guarantees they are gone afterwards.
///
/// A guest lives exactly as long as the closure given to ``withGuest(_:options:_:)``:
/// its domain is destroyed and its overlay deleted when the closure returns, throws or
/// is cancelled (Ctrl-C), so nothing outlives the scope. The base image is only ever
/// read, through a fresh copy-on-write overlay.
public struct GuestLauncher: Sendable {
    public var directories: Directories
    public var reporter: any Reporter

    public init(directories: Directories = .standard(), reporter: any Reporter = SilentReporter()) {
        self.directories = directories
        self.reporter = reporter
    }

    /// Connects to the hypervisor, judges its host by itself and chooses how `profile`'s
    /// guest runs there: the one place a run's accelerator and guest kernel are decided.
    /// A request the host cannot honour throws ``AcceleratorRequestError`` (bad input);
    /// an unreachable hypervisor throws ``HypervisorConnectionError``.
    public func place(_ profile: Profile, connectURI: String?, request: AcceleratorRequest) async throws -> Placement {
        let hypervisor = try await Hypervisor.connect(uri: connectURI, directories: directories)
        let host = try await hypervisor.host(directories: directories)
        let mode = try AcceleratorChoice.choose(for: profile.arch, on: host, request: request)
        hypervisor.prepareForGuests(under: mode.accelerator)
        return Placement(hypervisor: hypervisor, host: host, mode: mode, request: request)
    }

    /// A new run identifier: sortable by time, unique across concurrent processes.
    public static func newRunID(at now: Date = Date()) -> String {
        "\(UTCTimestamp(now).compact)-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
    }

    /// The domain a profile boots as, running as `mode` says, with these files. Pure:
    /// used by `--dry-run` and tests. `compatKernel` is the 64-bit kernel an armv7l
    /// userland boots under when `mode` runs one.
    public func definition(
        for profile: Profile, mode: AcceleratorChoice, image: BaseImage?, compatKernel: CompatKernel? = nil,
        runID: String, runDirectory: URL, seed: URL? = nil
    ) -> DomainDefinition {
        let boot: DomainDefinition.Boot
        let commandLine = Self.endingOnKernelFailure(
            profile.boot.kernelCommandLine ?? image?.kernelCommandLine ?? "console=ttyAMA0 root=LABEL=vmtest-root rw")
        if mode.runsCompatKernel(for: profile.arch) {
            // Whatever the profile boots through, the armhf root is booted under the 64-bit kernel directly.
            boot = .directKernel(
                kernel: compatKernel?.kernel ?? "(the 64-bit compat kernel)", initrd: compatKernel?.initrd ?? "(its initramfs)",
                commandLine: compatKernel?.kernelCommandLine(forImage: commandLine) ?? commandLine)
        } else {
            switch profile.boot.method {
            case .directKernel:
                boot = .directKernel(
                    kernel: image?.kernel ?? "(kernel of the built image)", initrd: image?.initrd, commandLine: commandLine)
            case .uBoot:
                boot = .firmware(path: profile.boot.firmware ?? BootSpec.armUBoot)
            }
        }
        var disks = [DomainDefinition.Disk(kind: .qcow2Overlay, path: runDirectory.appendingPathComponent("overlay.qcow2").path)]
        if let seed { disks.append(.init(kind: .readOnlyImage, path: seed.path)) }
        return DomainDefinition(
            name: "vmtest-\(runID)",
            run: .init(id: runID, profile: profile.name, ownerPID: getpid()),
            arch: mode.guestKernel,
            machine: profile.machine,
            accelerator: mode,
            cpus: profile.cpus,
            memoryMiB: profile.memory,
            boot: boot,
            disks: disks,
            consoleLog: runDirectory.appendingPathComponent("console.log").path,
            commandConsole: profile.console.device)
    }

    /// A guest kernel that oopses panics, and one that panics reboots at once
    /// (`oops=panic panic=-1`), which destroys the domain (`on_reboot` is `destroy`): the run
    /// ends with a lost console in seconds instead of waiting out its boot time limit on a
    /// guest whose kernel is no longer to be trusted. Seen under nested KVM, where a 32-bit
    /// guest kernel oopsed in one boot of three and then looped on the same fault until the
    /// boot timed out.
    static func endingOnKernelFailure(_ commandLine: String) -> String {
        let words = commandLine.split(separator: " ")
        var result = commandLine
        if !words.contains(where: { $0.hasPrefix("oops=") }) { result += " oops=panic" }
        if !words.contains(where: { $0.hasPrefix("panic=") }) { result += " panic=-1" }
        return result
    }

    /// Decides how `profile`'s guest boots on `placement`: its image (built or fetched
    /// now when it is not cached, before anything boots), the 64-bit kernel when the
    /// placement runs one, and its domain with the workarounds applied.
    public func plan(
        _ profile: Profile, on placement: Placement, runID: String, workarounds: WorkaroundSelection = .none,
        packages: [InstalledPackage] = []
    ) async throws -> GuestPlan {
        // Every tool a boot needs, before an image is built for it.
        _ = try ExternalTool.qemuImg.resolved()
        if placement.hypervisor.requestedURI == nil {
            _ = try ExternalTool.emulator(placement.mode.emulator).resolved()
        }
        let image = try await image(for: profile)
        return try await plan(profile, on: placement, image: image, runID: runID, workarounds: workarounds, packages: packages)
    }

    /// The plan for an image already at hand: also what a placement changed at boot is
    /// decided again with.
    func plan(
        _ profile: Profile, on placement: Placement, image: BaseImage, runID: String, workarounds: WorkaroundSelection,
        packages: [InstalledPackage]
    ) async throws -> GuestPlan {
        GuestPlan(
            profile: profile, runID: runID, runDirectory: directories.runs.appendingPathComponent(runID), placement: placement,
            image: image, compatKernel: try await compatKernelIfNeeded(profile, placement.mode), workarounds: workarounds,
            packages: packages, launcher: self)
    }

    /// The profile's base image: cached, or built from its recipe or fetched from its URL
    /// now. Parallel callers in one process take turns (``ImageStore``'s build lock).
    public func image(for profile: Profile) async throws -> BaseImage {
        try await ImageStore(root: directories.images).image(for: profile, reporter: reporter)
    }

    /// Removes what dead vmtest processes left (their guests, overlays, QEMU processes):
    /// once per command, before its first guest starts.
    public func reapLeftovers() async {
        let reaped = await LeftoverReaper(directories: directories).reap()
        if !reaped.runs.isEmpty || !reaped.killedProcesses.isEmpty {
            reporter.note(
                "removed what dead vmtest processes left: \(reaped.runs.count) run(s), \(reaped.killedProcesses.count) QEMU process(es)")
        }
    }

    /// Places and plans `profile`'s guest, then runs `body` with it booted: for commands
    /// that boot one guest and decide nothing else (`vmtest boot`, tests).
    public func withGuest<T: Sendable>(
        _ profile: Profile,
        options: LaunchOptions = LaunchOptions(),
        _ body: (Guest) async throws -> T
    ) async throws -> T {
        let placement = try await place(profile, connectURI: options.connectURI, request: options.accelerator)
        reporter.note("running as \(placement.mode.label): \(placement.mode.reason)")
        let plan = try await plan(profile, on: placement, runID: options.runID ?? Self.newRunID())
        await reapLeftovers()
        return try await withGuest(plan, options: options, body)
    }

    /// Starts the planned guest (restored from a saved state when one fits, else booted
    /// from its kernel), waits for its shell, runs `body` with it, and tears it down
    /// whatever happens.
    public func withGuest<T: Sendable>(
        _ plan: GuestPlan,
        options: LaunchOptions,
        _ body: (Guest) async throws -> T
    ) async throws -> T {
        let phases = PhaseRecorder(reporter: reporter)
        var plan = plan
        let profile = plan.profile
        let runDirectory = plan.runDirectory
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        try String(getpid()).write(to: runDirectory.appendingPathComponent(LeftoverReaper.ownerFile), atomically: true, encoding: .utf8)
        // Everything below is torn down by `RunTeardown`, whatever happens.
        let teardown = RunTeardown(runDirectory: runDirectory, consoleLog: options.consoleLog)
        do {
            var definition = plan.definition(attaching: options)
            let hypervisor = plan.placement.hypervisor
            // A hypervisor that cannot open this machine's files gets the run's files as volumes.
            let volumes: RunVolumes? =
                hypervisor.fileSharing == .shared
                ? nil : RunVolumes(storage: try await hypervisor.storage(), runID: plan.runID, reporter: reporter)
            teardown.uses(volumes)
            let timeout = options.readyTimeout ?? plan.defaultReadyTimeout

            var start = GuestStart.cold
            if !options.cold {
                let warm = WarmStarter(
                    reporter: reporter, plan: plan, options: options, definition: definition, volumes: volumes, phases: phases)
                if let (domain, restored, key) = try await warm.start(readyTimeout: timeout) {
                    teardown.started(domain, uri: hypervisor.uri)
                    definition = restored
                    start = .warm(key: key)
                }
            }
            if teardown.domain == nil {
                if let volumes {
                    definition = try await phases.timed("volumes", "the run's disks and boot files on \(hypervisor.uri)") {
                        try await volumes.stage(definition, image: plan.image)
                    }
                } else {
                    try await phases.timed("overlay", "copy-on-write over \(URL(fileURLWithPath: plan.image.disk).lastPathComponent)") {
                        try await Overlay.create(at: runDirectory.appendingPathComponent("overlay.qcow2"), over: plan.image.disk)
                    }
                }
                do {
                    teardown.started(try await createCold(definition, on: hypervisor, phases: phases), uri: hypervisor.uri)
                } catch let error as LibvirtError where plan.placement.canFallBackToCompatKernel(after: error) {
                    // The judgement said AArch32 at EL1; QEMU says otherwise. A 64-bit
                    // guest kernel runs the same userland under KVM: never TCG silently.
                    hypervisor.learnNoAArch32EL1(evidence: "QEMU refused a KVM armv7l vCPU: \(HypervisorJudge.quoted(error.message))")
                    let placement = try await place(profile, connectURI: hypervisor.requestedURI, request: plan.placement.request)
                    reporter.note(
                        "the hypervisor refused a 32-bit vCPU (\(HypervisorJudge.quoted(error.message))); running as \(placement.mode.label) instead"
                    )
                    plan = try await self.plan(
                        profile, on: placement, image: plan.image, runID: plan.runID, workarounds: plan.workarounds, packages: plan.packages
                    )
                    definition = plan.definition(attaching: options)
                    if let volumes { definition = try await volumes.stage(definition, image: plan.image) }
                    teardown.started(try await createCold(definition, on: hypervisor, phases: phases), uri: hypervisor.uri)
                }
            }
            let domain = teardown.domain!
            let transcript = try TranscriptFile(url: runDirectory.appendingPathComponent("channel.log"))
            /// Opens the command console of a started domain, for the teardown to close.
            let attach: @Sendable (Domain, DomainDefinition) async throws -> GuestShell = { domain, definition in
                let console = try await GuestConsole.open(on: domain, definition, record: { transcript.append($0) })
                teardown.opened(console)
                return console.shell
            }
            /// Waits for the shell of a guest booted from its kernel.
            let waitUntilReady: @Sendable (GuestShell) async throws -> Void = { shell in
                try await phases.timed("ready", "waiting for a shell on \(profile.console.device.rawValue)") {
                    try await shell.waitUntilReady(
                        login: profile.console.loginMethod, typingSafeAfter: profile.consoleTypingSafeAfter, timeout: timeout)
                }
            }
            let shell = try await attach(domain, definition)
            if start.isWarm {
                try await domain.resume()
                // A restored guest has the same limit to be ready in as a booted one: a fixed
                // minute was too little on a loaded host (seven guests on two cores in the CI
                // batch: one refresh took 45 s, another did not finish in 60).
                let deadline = ContinuousClock.now + timeout
                try await phases.timed("set-up", "the restored guest's clock and random numbers, and the run's own set-up") {
                    try await shell.waitUntilReattached(timeout: deadline - .now)
                    let refresh = WarmStarter.refreshCommand(now: Date(), entropy: (0..<32).map { _ in UInt8.random(in: 0...255) })
                    try await Self.setUp(shell, [refresh] + options.setUp.snippets(for: start), timeout: deadline - .now)
                }
            } else {
                try await waitUntilReady(shell)
                let snippets = options.setUp.snippets(for: start)
                if !snippets.isEmpty {
                    try await phases.timed("set-up", "the run's own set-up") { try await Self.setUp(shell, snippets, timeout: timeout) }
                }
            }
            var again = definition
            again.appendsToConsoleLog = true
            let reboot = GuestReboot { [again] in
                await teardown.closeConsole()
                if let domain = teardown.domain { _ = try await domain.destroyIfRunning() }
                let domain = try await Self.create(
                    again, on: hypervisor, phases: phases, phase: "reboot", detail: "booting \(again.name) again from its disk")
                teardown.started(domain, uri: hypervisor.uri)
                let shell = try await attach(domain, again)
                try await waitUntilReady(shell)
                return shell
            }
            let guest = Guest(
                runID: plan.runID, profile: profile, domainName: definition.name, accelerator: plan.mode, image: plan.image,
                consoleLog: teardown.consoleLog, shell: shell,
                sshForwardPort: options.sshForwardPort, start: start, phases: phases.phases, plan: plan, reboot: reboot,
                keepSwitch: teardown.keepSwitch)
            let result = try await body(guest)
            await teardown.run(reporter: reporter)
            return result
        } catch {
            let ending = await teardown.consoleEnding()
            await teardown.run(reporter: reporter)
            if let ending, !(error is Interrupted), !(error is CancellationError) {
                reporter.note(ending.formatted(heading: "the serial console's last lines:"))
            }
            throw error
        }
    }

    /// Runs a guest's set-up (``GuestSetUp``) as one command.
    private static func setUp(_ shell: GuestShell, _ snippets: [String], timeout: Duration) async throws {
        let result = try await shell.run(GuestSetUp.script(snippets), timeout: timeout)
        guard result.succeeded else { throw GuestStepError(step: "setting up the guest for the run", result: result) }
    }

    /// The 64-bit kernel and initramfs an armv7l userland boots under, when `mode` runs one.
    func compatKernelIfNeeded(_ profile: Profile, _ mode: AcceleratorChoice) async throws -> CompatKernel? {
        guard mode.runsCompatKernel(for: profile.arch) else { return nil }
        return try await CompatKernelStore(directories: directories).kit(reporter: reporter)
    }

    private func createCold(_ definition: DomainDefinition, on hypervisor: Hypervisor, phases: PhaseRecorder) async throws -> Domain {
        try await Self.create(
            definition, on: hypervisor, phases: phases,
            detail: "starting \(definition.name) (\(definition.accelerator.label), \(definition.cpus) vCPU, \(definition.memoryMiB) MiB)")
    }
}
