import Foundation

/// Judges what a host can do for vmtest: pure logic over ``HostFacts``.
///
/// Every check becomes a row of `vmtest doctor`'s table. A check the profile cannot run
/// without is *blocking*; any blocking row makes ``DoctorReport/exitStatus`` non-zero.
public enum Doctor {
    /// The profile `vmtest doctor` answers for: `vmtest run`'s default.
    public static let defaultProfile = Target(profile: "debian12-armhf", arch: .armv7l)

    /// The guest whose needs the blocking checks describe.
    public struct Target: Sendable, Hashable {
        public var profile: String
        public var arch: GuestArchitecture

        public init(profile: String, arch: GuestArchitecture) {
            self.profile = profile
            self.arch = arch
        }
    }

    /// The tools `vmtest doctor` looks for.
    public static let tools: [ExternalTool] = [
        .qemuSystemArm, .qemuSystemAarch64, .qemuImg, .xorriso, .genisoimage, .ssh, .scp, .passt, .mmdebstrap, .rpm,
    ]
    /// The tools whose `--version` is worth a look.
    static let versionedTools: Set<String> = [
        ExternalTool.qemuSystemArm.name, ExternalTool.qemuSystemAarch64.name, ExternalTool.qemuImg.name,
    ]

    public struct Firmware: Sendable, Hashable {
        public var name: String
        public var path: String
        public var debianPackage: String
        /// What needs it.
        public var usedBy: String
    }

    public static let firmware: [Firmware] = [
        Firmware(
            name: "U-Boot (qemu_arm)", path: BootSpec.armUBoot, debianPackage: "u-boot-qemu",
            usedBy: "profiles with `boot: {method: u-boot}` (centos7-armhfp)"),
        Firmware(
            name: "AAVMF32 (UEFI)", path: "/usr/share/AAVMF/AAVMF32_CODE.fd", debianPackage: "qemu-efi-arm",
            usedBy: "32-bit Arm guests booting through UEFI"),
    ]

    /// Below this much free space in the cache, building a base image may fail.
    public static let minimumFreeBytes: Int64 = 5 << 30

    public static func examine(_ facts: HostFacts, for target: Target = defaultProfile) -> DoctorReport {
        let host = facts.machine
        let remote = facts.libvirt.requestedURI.map { !HypervisorJudge.isThisMachine(uri: $0) } ?? false
        // The automatic choice never throws: only forced requests can be refused.
        let choice =
            (try? AcceleratorChoice.choose(for: target.arch, on: host))
            ?? AcceleratorChoice(
                accelerator: .tcg, guestKernel: target.arch, emulator: "/usr/bin/\(target.arch.tcgEmulator)",
                cpuModel: target.arch.tcgCPUModel, reason: "TCG")
        let emulator = URL(fileURLWithPath: choice.emulator).lastPathComponent
        var checks: [DoctorCheck] = []

        checks.append(
            .init(remote ? "hypervisor's host" : "host architecture", .ok, host.architecture + (host.cpu.isEmpty ? "" : " (\(host.cpu))")))
        if !remote { checks.append(kvmDevice(facts)) }
        checks += waysOfRunning(target.arch, on: host)
        checks.append(
            .init(
                "runs will use", choice.accelerator == .kvm ? .ok : .warn,
                "\(choice.label) with \(emulator): \(choice.reason)"))

        for tool in [ExternalTool.qemuSystemArm, .qemuSystemAarch64] {
            // A remote hypervisor runs its own QEMU.
            let needed = tool.name == emulator && !remote
            checks.append(
                toolCheck(
                    tool, facts, blocking: needed,
                    purpose: needed ? "runs \(target.profile) here" : "runs guests this host does not use it for by default"))
        }
        for item in firmware {
            if facts.files.contains(item.path) {
                checks.append(.init(item.name, .ok, item.path))
            } else {
                checks.append(
                    .init(
                        item.name, .warn, "\(item.path) is missing; needed by \(item.usedBy)",
                        fix: "apt-get install \(item.debianPackage)"))
            }
        }
        checks.append(contentsOf: libvirt(facts.libvirt))

        checks.append(toolCheck(.qemuImg, facts, blocking: true, purpose: "makes each run's copy-on-write overlay"))
        checks.append(isoTool(facts))
        checks.append(toolCheck(.ssh, facts, blocking: false, purpose: "needed for `--channel ssh`"))
        checks.append(toolCheck(.scp, facts, blocking: false, purpose: "needed for `--channel ssh`"))
        checks.append(toolCheck(.passt, facts, blocking: false, purpose: "optional; guests use QEMU's own user networking"))
        checks.append(toolCheck(.mmdebstrap, facts, blocking: false, purpose: "builds base images (`vmtest image build`)"))
        checks.append(
            toolCheck(
                .rpm, facts, blocking: false,
                purpose:
                    "reads the packages given to `vmtest run --rpm`; with rpmbuild, tells a built image's rpm database what dpkg installed")
        )
        checks.append(diskSpace(facts))

        return DoctorReport(target: target, accelerator: choice, checks: checks)
    }

    /// One row per way an armv7l guest can run (KVM with its own 32-bit kernel, KVM with a
    /// 64-bit kernel, TCG): whether this host offers it, and why.
    static func waysOfRunning(_ arch: GuestArchitecture, on host: HostMachine) -> [DoctorCheck] {
        var ways: [(String, AcceleratorRequest)] = [("KVM, 64-bit guest kernel", .init(accelerator: .kvm, guestKernel: .bits64))]
        if arch == .armv7l {
            ways.insert(("KVM, 32-bit guest kernel", .init(accelerator: .kvm, guestKernel: .bits32)), at: 0)
        }
        var rows: [DoctorCheck] = ways.map { name, request -> DoctorCheck in
            do throws(AcceleratorRequestError) {
                let choice = try AcceleratorChoice.choose(for: arch, on: host, request: request)
                return DoctorCheck(name, .ok, "yes: " + choice.reason)
            } catch {
                return DoctorCheck(name, .warn, "no: " + error.problem)
            }
        }
        rows.append(DoctorCheck("TCG (emulation)", .ok, "yes: always possible, 10-50x slower than KVM"))
        return rows
    }

    static func kvmDevice(_ facts: HostFacts) -> DoctorCheck {
        let name = "/dev/kvm"
        let armHost = facts.machine.architecture == "aarch64"
        switch (facts.kvmDevicePresent, facts.machine.kvmUsable) {
        case (_, true):
            return .init(name, .ok, "present and opened read-write")
        case (true, false):
            return .init(
                name, armHost ? .warn : .ok, "present, but this user may not open it",
                fix: armHost ? "sudo usermod -aG kvm $USER, then log in again" : nil)
        case (false, false):
            guard armHost else {
                return .init(name, .ok, "absent; not needed: KVM cannot run Arm guests on a \(facts.machine.architecture) host")
            }
            return .init(
                name, .warn, "absent: every guest runs under TCG (slow)",
                fix: "sudo modprobe kvm, or turn on virtualisation in the firmware")
        }
    }

    static func toolCheck(_ tool: ExternalTool, _ facts: HostFacts, blocking: Bool, purpose: String) -> DoctorCheck {
        if let found = facts.tools[tool.name] {
            return .init(tool.name, .ok, found.version.map { "\($0) (\(found.path))" } ?? found.path)
        }
        return .init(
            tool.name, blocking ? .missing : .warn, "not installed; \(purpose)",
            fix: "apt-get install \(tool.debianPackage)", blocking: blocking)
    }

    static func isoTool(_ facts: HostFacts) -> DoctorCheck {
        let name = "xorriso or genisoimage"
        for tool in [ExternalTool.xorriso, .genisoimage] {
            if let found = facts.tools[tool.name] { return .init(name, .ok, "\(tool.name) (\(found.path))") }
        }
        return .init(
            name, .missing, "neither is installed; one writes the cloud-init seed image",
            fix: "apt-get install xorriso", blocking: true)
    }

    static func libvirt(_ facts: HostFacts.LibvirtFacts) -> [DoctorCheck] {
        let library = DoctorCheck(
            "libvirt library", facts.libraryVersion == nil ? .warn : .ok,
            facts.libraryVersion.map { "libvirt \($0)" } ?? "the library would not give its version")
        let name = "libvirt connection"
        switch facts.connection {
        case .connected(let uri, let hypervisorVersion):
            let version = hypervisorVersion.map { ", QEMU \($0)" } ?? ""
            let what = facts.requestedURI == nil ? "embedded QEMU driver" : uri
            return [library, .init(name, .ok, "\(what) connects (\(uri)\(version))")]
        case .failed(let message):
            let fix =
                facts.requestedURI == nil
                ? "apt-get install libvirt-daemon-driver-qemu (the embedded driver loads it)"
                : "check that libvirtd or virtqemud runs and that this user may connect (group libvirt), or drop --connect"
            let firstLine = message.split(separator: "\n").first.map(String.init) ?? message
            return [
                library,
                .init(
                    name, .missing, "\(facts.requestedURI ?? "embedded QEMU driver") does not connect: \(firstLine)",
                    fix: fix, blocking: true),
            ]
        }
    }

    static func diskSpace(_ facts: HostFacts) -> DoctorCheck {
        let name = "free space in cache"
        guard let free = facts.cacheFreeBytes else {
            return .init(name, .warn, "\(facts.cacheDirectory): could not be measured")
        }
        let detail = "\(formatGiB(free)) free in \(facts.cacheDirectory)"
        if free < minimumFreeBytes {
            return .init(
                name, .warn, "\(detail); a base image build needs about \(formatGiB(minimumFreeBytes))",
                fix: "free some space, or point VMTEST_CACHE_DIR at a larger file system")
        }
        return .init(name, .ok, detail)
    }

    static func formatGiB(_ bytes: Int64) -> String {
        String(format: "%.1f GiB", Double(bytes) / Double(1 << 30))
    }
}

/// One row of `vmtest doctor`'s table.
public struct DoctorCheck: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable {
        case ok, warn, missing
    }

    public var name: String
    public var status: Status
    public var detail: String
    /// What to do about it; nil when there is nothing to do.
    public var fix: String?
    /// The target profile cannot run without it.
    public var blocking: Bool

    public init(_ name: String, _ status: Status, _ detail: String, fix: String? = nil, blocking: Bool = false) {
        self.name = name
        self.status = status
        self.detail = detail
        self.fix = fix
        self.blocking = blocking
    }
}

/// What `vmtest doctor` prints, and the status it exits with.
public struct DoctorReport: Sendable, Hashable {
    public var target: Doctor.Target
    /// How the target's guests would run here.
    public var accelerator: AcceleratorChoice
    public var checks: [DoctorCheck]

    public var blocking: [DoctorCheck] { checks.filter(\.blocking) }
    public var canRunTarget: Bool { blocking.isEmpty }

    /// 0 when the target profile can run here, ``ExitStatus/infrastructure`` otherwise.
    public var exitStatus: Int32 { canRunTarget ? ExitStatus.success : ExitStatus.infrastructure }

    public var verdict: String {
        if canRunTarget {
            return
                "\(target.profile) can run here (\(target.arch.rawValue) under \(accelerator.accelerator.rawValue.uppercased()), \(accelerator.guestKernel.rawValue) guest kernel)"
        }
        return "\(target.profile) cannot run here: missing \(blocking.map(\.name).joined(separator: ", "))"
    }

    /// The checks as an aligned table, long cells wrapped, then the verdict.
    public func table(detailWidth: Int = 64, fixWidth: Int = 48) -> String {
        let header = ["check", "status", "detail", "fix"]
        let rows = checks.map { [[$0.name], [$0.status.rawValue], wrap($0.detail, detailWidth), wrap($0.fix ?? "", fixWidth)] }
        var widths = header.map(\.count)
        for row in rows {
            for (column, lines) in row.enumerated() {
                widths[column] = max(widths[column], lines.map(\.count).max() ?? 0)
            }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingTrailingSpaces()
        }
        var output = [line(header), line(widths.map { String(repeating: "-", count: $0) })]
        for row in rows {
            let height = row.map(\.count).max() ?? 1
            for index in 0..<height {
                output.append(line(row.map { index < $0.count ? $0[index] : "" }))
            }
        }
        output.append("")
        output.append(verdict)
        return output.joined(separator: "\n") + "\n"
    }

    /// Words of `text` in lines of at most `width` characters (a longer word stays whole).
    func wrap(_ text: String, _ width: Int) -> [String] {
        var lines: [String] = []
        var current = ""
        for word in text.split(separator: " ") {
            if !current.isEmpty, current.count + 1 + word.count > width {
                lines.append(current)
                current = ""
            }
            current += current.isEmpty ? String(word) : " " + word
        }
        if !current.isEmpty || lines.isEmpty { lines.append(current) }
        return lines
    }
}

extension String {
    fileprivate func trimmingTrailingSpaces() -> String {
        var copy = self
        while copy.last == " " { copy.removeLast() }
        return copy
    }
}
