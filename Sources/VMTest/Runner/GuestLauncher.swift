import Foundation
import Libvirt
import Synchronization

/// How to launch a guest, beyond what its profile says.
public struct LaunchOptions: Sendable {
    /// libvirt URI; nil means this process's embedded QEMU driver.
    public var connectURI: String?
    /// How long the guest may take to answer on its console; nil scales a default by accelerator.
    public var readyTimeout: Duration?
    /// A cloud-init NoCloud seed image attached read-only as the second disk.
    public var seed: URL?
    /// Forward this port on 127.0.0.1 to the guest's port 22.
    public var sshForwardPort: Int?
    /// More read-only disks (raw images), after the seed.
    public var extraDisks: [URL] = []
    /// Where the serial console's whole output goes; by default into the run directory,
    /// which teardown deletes.
    public var consoleLog: URL?
    /// The run's identifier; a new one when nil.
    public var runID: String?
    /// Last changes to the domain before it is created (the workarounds).
    public var adjustDefinition: (@Sendable (DomainDefinition) -> DomainDefinition)?
    /// Boot from the kernel even when a saved state could be restored.
    public var cold = false
    /// What `--accel` / `--guest-kernel` force on the way the guest runs.
    public var accelerator = AcceleratorRequest.automatic
    /// Where and how the guest runs, when the caller decided it already (a prepared run);
    /// nil: the launcher decides (``GuestLauncher/place(_:connectURI:request:)``).
    public var placement: Placement?
    /// The seed a saved guest boots with, when ``seed`` is a run's own; without it a
    /// seeded run boots cold.
    public var warmSeed: WarmSeed?

    public init(connectURI: String? = nil, readyTimeout: Duration? = nil, seed: URL? = nil, sshForwardPort: Int? = nil) {
        self.connectURI = connectURI
        self.readyTimeout = readyTimeout
        self.seed = seed
        self.sshForwardPort = sshForwardPort
    }
}

/// A booted guest inside a ``GuestLauncher/withGuest(_:options:_:)`` scope.
public struct Guest: Sendable {
    public let runID: String
    public let profile: Profile
    public let domainName: String
    /// How it runs: the placement's choice, or the 64-bit kernel a refused 32-bit vCPU fell back to.
    public let accelerator: AcceleratorChoice
    public let image: BaseImage
    /// The serial console's whole output, written by QEMU.
    public let consoleLog: URL
    public let shell: GuestShell
    /// The host port forwarded to the guest's SSH port, if any.
    public let sshForwardPort: Int?
    /// Booted, or restored from a saved state.
    public let start: GuestStart
    /// Seconds each launch phase took, in order.
    public let phases: [PhaseTiming]
    let keepSwitch: KeepSwitch

    /// Leaves the guest running (and its overlay on disk) when the scope ends, for a
    /// person to debug; `vmtest clean --kept` removes it later.
    public func keepRunning() { keepSwitch.keep() }
}

/// Set once, read at teardown.
final class KeepSwitch: Sendable {
    private let kept = Mutex(false)
    func keep() { kept.withLock { $0 = true } }
    var isKept: Bool { kept.withLock { $0 } }
}

public struct PhaseTiming: Sendable, Hashable, Codable {
    public var name: String
    public var seconds: Double
}

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
        return Placement(hypervisor: hypervisor, host: host, mode: mode, request: request)
    }

    /// A new run identifier: sortable by time, unique across concurrent processes.
    public static func newRunID() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return "\(formatter.string(from: Date()))-\(String(UInt32.random(in: 0...UInt32.max), radix: 36))"
    }

    /// The domain a profile boots as, running as `mode` says, with these files. Pure:
    /// used by `--dry-run` and tests. `compatKernel` is the 64-bit kernel an armv7l
    /// userland boots under when `mode` runs one.
    public func definition(
        for profile: Profile, mode: AcceleratorChoice, image: BaseImage?, compatKernel: CompatKernel? = nil,
        runID: String, runDirectory: URL, seed: URL? = nil
    ) -> DomainDefinition {
        let boot: DomainDefinition.Boot
        let commandLine = Self.rebootingOnPanic(
            profile.boot.kernelCommandLine ?? image?.kernelCommandLine ?? "console=ttyAMA0 root=LABEL=vmtest-root rw")
        if mode.runsCompatKernel(for: profile.arch) {
            // Whatever the profile boots through, the armhf root is booted under the 64-bit kernel directly.
            boot = .directKernel(
                kernel: compatKernel?.kernel ?? "(the 64-bit compat kernel)", initrd: compatKernel?.initrd ?? "(its initramfs)",
                commandLine: compatKernel?.kernelCommandLine(forImage: commandLine) ?? commandLine)
        } else {
            switch profile.boot.method {
            case .directKernel:
                boot = .directKernel(kernel: image?.kernel ?? "(kernel of the built image)", initrd: image?.initrd, commandLine: commandLine)
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

    /// A guest kernel that panics reboots at once (`panic=-1`), which destroys the domain
    /// (`on_reboot` is `destroy`): the run ends with a lost console in seconds instead of
    /// waiting out its boot time limit on a hung guest. Seen under nested KVM, where a
    /// 32-bit guest kernel oopsed in one boot of three.
    static func rebootingOnPanic(_ commandLine: String) -> String {
        commandLine.split(separator: " ").contains { $0.hasPrefix("panic=") } ? commandLine : commandLine + " panic=-1"
    }

    public func withGuest<T: Sendable>(
        _ profile: Profile,
        options: LaunchOptions = LaunchOptions(),
        _ body: (Guest) async throws -> T
    ) async throws -> T {
        let phases = PhaseRecorder(reporter: reporter)
        var placement: Placement
        if let decided = options.placement {
            placement = decided
        } else {
            placement = try await place(profile, connectURI: options.connectURI, request: options.accelerator)
            reporter.note("running as \(placement.mode.label): \(placement.mode.reason)")
        }
        _ = try ExternalTool.qemuImg.resolved()
        if placement.hypervisor.requestedURI == nil {
            _ = try ExternalTool(URL(fileURLWithPath: placement.mode.emulator).lastPathComponent, debianPackage: "qemu-system-arm").resolved()
        }

        // Built from a recipe or fetched from a URL; a cached image needs neither work nor network.
        let image = try await ImageStore(root: directories.images).image(for: profile, reporter: reporter)
        var compatKernel = try await compatKernelIfNeeded(profile, placement.mode)

        let runID = options.runID ?? Self.newRunID()
        let runDirectory = directories.runs.appendingPathComponent(runID)
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        try String(getpid()).write(to: runDirectory.appendingPathComponent(LeftoverReaper.ownerFile), atomically: true, encoding: .utf8)
        let reaped = await LeftoverReaper(directories: directories).reap()
        if !reaped.runs.isEmpty || !reaped.killedProcesses.isEmpty {
            reporter.note("removed what dead vmtest processes left: \(reaped.runs.count) run(s), \(reaped.killedProcesses.count) QEMU process(es)")
        }
        // Everything below is torn down by `RunTeardown`, whatever happens.
        let teardown = RunTeardown(runDirectory: runDirectory, consoleLog: options.consoleLog)
        do {
            func domainDefinition() -> DomainDefinition {
                var definition = self.definition(
                    for: profile, mode: placement.mode, image: image, compatKernel: compatKernel, runID: runID,
                    runDirectory: runDirectory, seed: options.seed)
                definition.sshForwardPort = options.sshForwardPort
                definition.disks += options.extraDisks.map { .init(kind: .readOnlyImage, path: $0.path) }
                if let log = options.consoleLog { definition.consoleLog = log.path }
                if let adjust = options.adjustDefinition { definition = adjust(definition) }
                return definition
            }
            var definition = domainDefinition()
            let hypervisor = placement.hypervisor
            teardown.uri = hypervisor.uri
            let timeout = options.readyTimeout ?? (placement.mode.accelerator == .tcg ? .seconds(300) : .seconds(90))

            var start = GuestStart.cold
            if !options.cold {
                let warm = WarmStarter(
                    reporter: reporter, profile: profile, image: image, options: options, hypervisor: hypervisor,
                    host: placement.host, definition: definition, runDirectory: runDirectory, phases: phases)
                if let (domain, restored, key) = try await warm.start(readyTimeout: timeout) {
                    teardown.domain = domain
                    definition = restored
                    start = .warm(key: key)
                }
            }
            if teardown.domain == nil {
                try await phases.timed("overlay", "copy-on-write over \(URL(fileURLWithPath: image.disk).lastPathComponent)") {
                    try await Overlay.create(at: runDirectory.appendingPathComponent("overlay.qcow2"), over: image.disk)
                }
                do {
                    teardown.domain = try await createCold(definition, on: hypervisor, phases: phases)
                } catch let error as LibvirtError where placement.canFallBackToCompatKernel(after: error) {
                    // The judgement said AArch32 at EL1; QEMU says otherwise. A 64-bit
                    // guest kernel runs the same userland under KVM: never TCG silently.
                    hypervisor.learnNoAArch32EL1(evidence: "QEMU refused a KVM armv7l vCPU: \(HypervisorJudge.quoted(error.message))")
                    placement = try await place(profile, connectURI: options.connectURI, request: placement.request)
                    reporter.note("the hypervisor refused a 32-bit vCPU (\(HypervisorJudge.quoted(error.message))); running as \(placement.mode.label) instead")
                    compatKernel = try await compatKernelIfNeeded(profile, placement.mode)
                    definition = domainDefinition()
                    teardown.domain = try await createCold(definition, on: hypervisor, phases: phases)
                }
            }
            let domain = teardown.domain!
            let console = try await domain.openConsole(device: definition.commandConsoleAlias)
            if start.isWarm { try await domain.resume() }
            teardown.console = console
            let transcript = try TranscriptFile(url: runDirectory.appendingPathComponent("channel.log"))
            let shell = GuestShell(transport: LibvirtConsoleTransport(stream: console), record: { transcript.append($0) })
            teardown.shell = shell
            if start.isWarm {
                try await phases.timed("refresh", "setting the restored guest's clock, reseeding its random numbers") {
                    try await shell.waitUntilReattached(timeout: .seconds(60))
                    let refreshed = try await shell.run(
                        WarmStarter.refreshCommand(
                            now: Date(), entropy: (0..<64).map { _ in UInt8.random(in: 0...255) }, payload: !options.extraDisks.isEmpty),
                        timeout: .seconds(60))
                    guard refreshed.exitStatus == 0 else { throw GuestStepError(step: "refreshing the restored guest", result: refreshed) }
                }
            } else {
                try await phases.timed("ready", "waiting for a shell on \(profile.console.device.rawValue)") {
                    try await shell.waitUntilReady(login: profile.console.loginMethod, timeout: timeout)
                }
            }
            let guest = Guest(
                runID: runID, profile: profile, domainName: definition.name, accelerator: placement.mode, image: image,
                consoleLog: URL(fileURLWithPath: definition.consoleLog), shell: shell,
                sshForwardPort: options.sshForwardPort, start: start, phases: phases.phases, keepSwitch: teardown.keepSwitch)
            let result = try await body(guest)
            await teardown.run(reporter: reporter)
            return result
        } catch {
            let tail = teardown.consoleTail()
            await teardown.run(reporter: reporter)
            if !tail.isEmpty, !(error is Interrupted), !(error is CancellationError) {
                reporter.note("the serial console's last lines:\n" + tail.map { "  | \($0)" }.joined(separator: "\n"))
            }
            throw error
        }
    }

    /// The 64-bit kernel and initramfs an armv7l userland boots under, when `mode` runs one.
    func compatKernelIfNeeded(_ profile: Profile, _ mode: AcceleratorChoice) async throws -> CompatKernel? {
        guard mode.runsCompatKernel(for: profile.arch) else { return nil }
        return try await CompatKernelStore(directories: directories).kit(reporter: reporter)
    }

    private func createCold(_ definition: DomainDefinition, on hypervisor: Hypervisor, phases: PhaseRecorder) async throws -> Domain {
        let xml = DomainXML.render(definition)
        return try await phases.timed(
            "boot", "starting \(definition.name) (\(definition.accelerator.label), \(definition.cpus) vCPU, \(definition.memoryMiB) MiB)"
        ) {
            try await hypervisor.connection.createDomain(xml: xml)
        }
    }
}

/// Where and how a guest runs: a hypervisor, what its host can do, and the way the guest
/// runs there, decided once by ``GuestLauncher/place(_:connectURI:request:)``.
public struct Placement: Sendable {
    public let hypervisor: Hypervisor
    public let host: HostMachine
    public let mode: AcceleratorChoice
    /// What was forced, so a fallback honours it too.
    public let request: AcceleratorRequest

    /// A KVM start of a 32-bit vCPU refused for want of AArch32 at EL1, when nobody forced
    /// the 32-bit kernel.
    func canFallBackToCompatKernel(after error: LibvirtError) -> Bool {
        mode.accelerator == .kvm && mode.guestKernel == .armv7l && request.guestKernel != .bits32
            && error.message.contains(HypervisorJudge.noAArch32EL1Message)
    }
}

extension ConsoleSpec {
    var loginMethod: ConsoleLogin {
        switch login {
        case .autologin: return .autologin
        case .password: return .password(user: user ?? "root", password: password ?? "")
        }
    }
}

/// What a run has made so far, torn down in reverse and exactly once.
private final class RunTeardown: @unchecked Sendable {
    let runDirectory: URL
    let consoleLog: URL
    var domain: Domain?
    var uri = ""
    var console: ConsoleStream?
    var shell: GuestShell?
    let keepSwitch = KeepSwitch()

    init(runDirectory: URL, consoleLog: URL?) {
        self.runDirectory = runDirectory
        self.consoleLog = consoleLog ?? runDirectory.appendingPathComponent("console.log")
    }

    func consoleTail(lines: Int = 20) -> [String] {
        guard let text = try? String(contentsOf: consoleLog, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").suffix(lines).map { $0.replacingOccurrences(of: "\r", with: "") }
    }

    /// Cancellation cannot cut it short: libvirt calls run to their end on the Libvirt layer's threads.
    func run(reporter: any Reporter) async {
        let start = ContinuousClock.now
        await shell?.stop()
        await console?.close()
        if let domain, keepSwitch.isKept {
            try? "".write(to: runDirectory.appendingPathComponent(LeftoverReaper.keptFile), atomically: true, encoding: .utf8)
            let embedded = uri.contains("embed")
            reporter.note(
                "kept \(domain.name) running for debugging; its disk is \(runDirectory.path)/overlay.qcow2\n"
                    + "  attach: virsh -c '\(uri)' console \(domain.name)" + (embedded ? " (once this vmtest has exited)" : "") + "\n"
                    + "  remove: vmtest clean --kept" + (embedded ? "" : " --connect '\(uri)'"))
            self.domain = nil
            return
        }
        if let domain {
            do {
                _ = try await domain.destroyIfRunning()
            } catch {
                reporter.note("could not destroy \(domain.name): \(error)")
            }
        }
        domain = nil
        console = nil
        shell = nil
        try? FileManager.default.removeItem(at: runDirectory)
        reporter.end("teardown", seconds: (ContinuousClock.now - start).seconds, "guest destroyed, overlay removed")
    }
}

/// Appends the raw console bytes of the command channel to a file.
final class TranscriptFile: @unchecked Sendable {
    private let handle: FileHandle
    private let lock = NSLock()

    init(url: URL) throws {
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        handle = try FileHandle(forWritingTo: url)
    }

    func append(_ bytes: [UInt8]) {
        lock.lock()
        defer { lock.unlock() }
        handle.write(Data(bytes))
    }

    deinit { try? handle.close() }
}

/// The libvirt console stream as a ``ConsoleTransport``.
struct LibvirtConsoleTransport: ConsoleTransport {
    let stream: ConsoleStream

    func output() -> AsyncThrowingStream<[UInt8], any Error> {
        stream.bytes
    }

    func send(_ bytes: [UInt8]) async throws {
        try await stream.write(bytes)
    }
}
