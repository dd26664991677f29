import Foundation
import Libvirt

/// The machine a hypervisor runs its guests on, as far as Arm guests go.
///
/// For the embedded driver and a daemon on this machine that is this machine, asked
/// directly (``current()``); for a remote hypervisor it is what libvirt says about it
/// (``HypervisorJudge``): a remote host is judged by itself, never by the machine vmtest
/// runs on.
public struct HostMachine: Sendable, Hashable, Codable {
    /// `uname -m` of the hypervisor's host: x86_64, aarch64, ...
    public var architecture: String
    /// The hypervisor can run KVM guests (this machine: `/dev/kvm` opens read-write;
    /// remote: libvirt offers domain type `kvm`).
    public var kvmUsable: Bool
    /// KVM can run vCPUs in AArch32 at EL1, so a 32-bit guest kernel runs under KVM;
    /// nil when unknown or not asked (not an Arm host, no KVM).
    public var kvmRunsAArch32: Bool?
    /// How ``kvmRunsAArch32`` was found out, in words.
    public var aarch32Evidence: String?
    /// The cores run 32-bit code at EL0 (Linux's compat mode), which the 64-bit guest
    /// kernel mode needs; nil when not known (then it is assumed, and said so).
    public var runs32BitUserland: Bool?
    /// The host CPU as far as saved guests care: restoring needs the same kind of core.
    public var cpu: String

    public init(
        architecture: String, kvmUsable: Bool, kvmRunsAArch32: Bool?, aarch32Evidence: String? = nil,
        runs32BitUserland: Bool? = nil, cpu: String = ""
    ) {
        self.architecture = architecture
        self.kvmUsable = kvmUsable
        self.kvmRunsAArch32 = kvmRunsAArch32
        self.aarch32Evidence = aarch32Evidence
        self.runs32BitUserland = runs32BitUserland
        self.cpu = cpu
    }

    /// The machine this process runs on: `uname -m`, KVM's own answers
    /// (``KVMDevice/probeAArch32EL1(path:)``) and, on Arm, whether `setarch linux32` works.
    public static func current() -> HostMachine {
        let machine = localArchitecture
        let usable = KVMDevice.isUsable()
        var host = HostMachine(architecture: machine, kvmUsable: usable, kvmRunsAArch32: nil, cpu: WarmStarter.hostCPU())
        guard machine == "aarch64" else { return host }
        if usable {
            let answer = KVMDevice.probeAArch32EL1()
            host.kvmRunsAArch32 = answer.supported
            host.aarch32Evidence = answer.evidence
        }
        host.runs32BitUserland = runsLinux32Personality()
        return host
    }

    static var localArchitecture: String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: &name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    /// An arm64 kernel without 32-bit EL0 (Neoverse V2, Apple M) refuses PER_LINUX32.
    static func runsLinux32Personality() -> Bool? {
        guard let setarch = ExternalTool.setarch.path else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: setarch)
        process.arguments = ["linux32", "true"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return nil }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }
}

public enum Accelerator: String, Sendable, Hashable, Codable, CaseIterable, YAMLChoice {
    case kvm
    /// QEMU's Tiny Code Generator: software emulation, 10-50x slower than KVM.
    case tcg

    /// libvirt's domain type for it.
    public var domainType: String { self == .kvm ? "kvm" : "qemu" }
}

/// The guest kernel's word size, as `--guest-kernel 32|64` names it.
public enum GuestKernelBits: String, Sendable, Hashable, Codable, CaseIterable, YAMLChoice {
    case bits32 = "32"
    case bits64 = "64"
}

/// What the command line (`--accel`, `--guest-kernel`) or a plan forces; nil fields are
/// decided by ``AcceleratorChoice/choose(for:on:request:)``.
public struct AcceleratorRequest: Sendable, Hashable, Codable {
    public var accelerator: Accelerator?
    public var guestKernel: GuestKernelBits?

    public init(accelerator: Accelerator? = nil, guestKernel: GuestKernelBits? = nil) {
        self.accelerator = accelerator
        self.guestKernel = guestKernel
    }

    public static let automatic = AcceleratorRequest()
}

/// How a guest runs on a hypervisor, and why: one of three ways for an armv7l profile
/// (KVM with its own 32-bit kernel, KVM with a 64-bit kernel under its 32-bit userland,
/// TCG), decided once per run and hypervisor, printed once and recorded in summary.json.
public struct AcceleratorChoice: Sendable, Hashable, Codable {
    public var accelerator: Accelerator
    /// The architecture the guest's kernel runs in: the profile's own, or aarch64 for an
    /// armv7l userland under a 64-bit kernel.
    public var guestKernel: GuestArchitecture
    /// Path of the QEMU system emulator (on the hypervisor's host).
    public var emulator: String
    /// nil means `host-passthrough`.
    public var cpuModel: String?
    public var reason: String

    public init(accelerator: Accelerator, guestKernel: GuestArchitecture, emulator: String, cpuModel: String?, reason: String) {
        self.accelerator = accelerator
        self.guestKernel = guestKernel
        self.emulator = emulator
        self.cpuModel = cpuModel
        self.reason = reason
    }

    /// The 32-bit userland runs under a 64-bit kernel (Linux's compat mode, `linux32`).
    public func runsCompatKernel(for arch: GuestArchitecture) -> Bool { arch == .armv7l && guestKernel == .aarch64 }

    /// A one-line summary: "kvm, aarch64 kernel".
    public var label: String { "\(accelerator.rawValue), \(guestKernel.rawValue) kernel" }

    /// CPU model QEMU emulates for a 64-bit kernel under TCG: one with AArch32 at EL0.
    static var compatTCGCPUModel: String { GuestArchitecture.aarch64.tcgCPUModel }

    /// Chooses how a guest of `arch` runs on `host`, honouring what `request` forces.
    /// Throws, before anything boots, when the request asks for what the host cannot do.
    public static func choose(
        for arch: GuestArchitecture, on host: HostMachine, request: AcceleratorRequest = .automatic
    ) throws(AcceleratorRequestError) -> AcceleratorChoice {
        if arch == .aarch64, request.guestKernel == .bits32 {
            throw AcceleratorRequestError(
                request: "--guest-kernel 32", problem: "the profile's guest is aarch64, whose userland needs a 64-bit kernel",
                fix: "leave --guest-kernel out for aarch64 profiles")
        }
        let kvmBlocker = Self.kvmBlocker(on: host)
        let aarch32 = host.kvmRunsAArch32 == true
        let aarch32Words = host.aarch32Evidence.map { " (\($0))" } ?? ""

        if request.accelerator == .tcg || (request.accelerator == nil && kvmBlocker != nil) {
            let why = request.accelerator == .tcg ? "--accel tcg asked for it" : kvmBlocker!
            return tcg(arch, compat: arch == .armv7l && request.guestKernel == .bits64, why)
        }
        if let kvmBlocker {
            throw AcceleratorRequestError(
                request: "--accel kvm", problem: "KVM cannot run this guest: \(kvmBlocker)", fix: "leave --accel out to emulate with TCG")
        }
        if arch == .aarch64 {
            return kvm(.aarch64, cpuModel: nil, "KVM on this aarch64 host")
        }
        switch request.guestKernel {
        case .bits32?:
            guard aarch32 else {
                throw AcceleratorRequestError(
                    request: "--guest-kernel 32",
                    problem: "this host's cores have no AArch32 at EL1\(aarch32Words), so KVM cannot run a 32-bit guest kernel",
                    fix: "leave --guest-kernel out (a 64-bit guest kernel runs the armhf userland under KVM here), or add --accel tcg")
            }
            return kvm32(aarch32Words)
        case .bits64?:
            return kvm64(host, "--guest-kernel 64 asked for a 64-bit guest kernel")
        case nil:
            if aarch32 { return kvm32(aarch32Words) }
            if host.runs32BitUserland == false {
                return tcg(
                    arch, compat: false,
                    "this host's cores run no 32-bit code at all (no AArch32 at EL1\(aarch32Words) nor at EL0, as Neoverse V2 or Apple M), so KVM cannot run the armhf guest"
                )
            }
            return kvm64(host, "its cores have no AArch32 at EL1\(aarch32Words), as Neoverse N1/N2/V1 or Cortex-A76")
        }
    }

    /// Why KVM cannot run Arm guests on `host`, or nil when it can.
    static func kvmBlocker(on host: HostMachine) -> String? {
        guard host.architecture == "aarch64" else {
            return "the host is \(host.architecture) and KVM runs only guests of the host's own architecture"
        }
        guard host.kvmUsable else {
            return "KVM is not usable there (/dev/kvm is missing or not accessible: is the kvm module loaded, is this user in group kvm?)"
        }
        return nil
    }

    private static func tcg(_ arch: GuestArchitecture, compat: Bool, _ why: String) -> AcceleratorChoice {
        if compat {
            return AcceleratorChoice(
                accelerator: .tcg, guestKernel: .aarch64, emulator: "/usr/bin/qemu-system-aarch64", cpuModel: compatTCGCPUModel,
                reason: "emulating with TCG (slow), a 64-bit guest kernel under the 32-bit userland (--guest-kernel 64): \(why)")
        }
        return AcceleratorChoice(
            accelerator: .tcg, guestKernel: arch, emulator: "/usr/bin/\(arch.tcgEmulator)", cpuModel: arch.tcgCPUModel,
            reason: "emulating the \(arch.rawValue) guest with TCG (slow): \(why)")
    }

    private static func kvm(_ kernel: GuestArchitecture, cpuModel: String?, _ reason: String) -> AcceleratorChoice {
        AcceleratorChoice(
            accelerator: .kvm, guestKernel: kernel, emulator: "/usr/bin/qemu-system-aarch64", cpuModel: cpuModel, reason: reason)
    }

    /// libvirt turns the aarch64 CPU feature off itself for an armv7l guest on an aarch64
    /// host, which is what lets a host-passthrough vCPU run the 32-bit kernel in AArch32.
    private static func kvm32(_ evidence: String) -> AcceleratorChoice {
        kvm(
            .armv7l, cpuModel: nil,
            "KVM with the guest's own 32-bit kernel: this host's cores run AArch32 at EL1\(evidence); host-passthrough vCPU with aarch64=off"
        )
    }

    private static func kvm64(_ host: HostMachine, _ why: String) -> AcceleratorChoice {
        let assumed = host.runs32BitUserland == nil ? " (32-bit EL0 support assumed: it cannot be asked remotely)" : ""
        return kvm(
            .aarch64, cpuModel: nil,
            "KVM with a 64-bit guest kernel running the armhf userland in 32-bit compat mode (linux32)\(assumed): \(why)")
    }
}

/// `--accel` / `--guest-kernel` asked for a way of running the hypervisor cannot offer:
/// bad input, refused before anything boots.
public struct AcceleratorRequestError: Error, Sendable, Hashable, CustomStringConvertible {
    public var request: String
    public var problem: String
    public var fix: String

    public var description: String { "\(request): \(problem)\n  fix: \(fix)" }
}
