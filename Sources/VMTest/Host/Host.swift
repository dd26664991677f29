import Foundation

/// What the machine vmtest runs on can do for a guest.
public struct HostMachine: Sendable, Hashable {
    /// `uname -m`: x86_64, aarch64, ...
    public var architecture: String
    /// `/dev/kvm` exists and this process may open it.
    public var kvmUsable: Bool
    /// KVM can run vCPUs in AArch32 at EL1 (`KVM_CAP_ARM_EL1_32BIT`); nil when unknown
    /// (not an Arm host, or no KVM to ask).
    public var kvmRunsAArch32: Bool?

    public init(architecture: String, kvmUsable: Bool, kvmRunsAArch32: Bool?) {
        self.architecture = architecture
        self.kvmUsable = kvmUsable
        self.kvmRunsAArch32 = kvmRunsAArch32
    }

    /// The machine this process runs on.
    public static func current(probe: any KVMProbe = DeviceKVMProbe()) -> HostMachine {
        var name = utsname()
        uname(&name)
        let machine = withUnsafeBytes(of: &name.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let usable = probe.isUsable
        return HostMachine(
            architecture: machine,
            kvmUsable: usable,
            kvmRunsAArch32: machine == "aarch64" && usable ? probe.supportsAArch32EL1 : nil)
    }
}

/// Asks the kernel's KVM what it can do. A protocol so the aarch64 decisions can be
/// tested on any machine.
public protocol KVMProbe: Sendable {
    var isUsable: Bool { get }
    var supportsAArch32EL1: Bool { get }
}

/// The real probe: `open("/dev/kvm")` and `KVM_CHECK_EXTENSION`.
public struct DeviceKVMProbe: KVMProbe {
    public init() {}

    public var isUsable: Bool {
        let fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        close(fd)
        return true
    }

    /// Cortex-A53/A57/A72 answer yes; Neoverse N1/V1 and later have no AArch32 at EL1.
    public var supportsAArch32EL1: Bool {
        let fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        // _IO(KVMIO, 0x03) with KVMIO = 0xAE; KVM_CAP_ARM_EL1_32BIT = 34 (linux/kvm.h).
        let kvmCheckExtension: UInt = 0xAE03
        let kvmCapArmEL1_32Bit: Int = 34
        return IOControl.call(fd, kvmCheckExtension, kvmCapArmEL1_32Bit) > 0
    }
}

public enum Accelerator: String, Sendable, Hashable, Codable {
    case kvm
    /// QEMU's Tiny Code Generator: software emulation, 10-50x slower than KVM.
    case tcg

    /// libvirt's domain type for it.
    public var domainType: String { self == .kvm ? "kvm" : "qemu" }
}

/// How a guest will run on a host, and why; printed once so nobody wonders why a run is slow.
public struct AcceleratorChoice: Sendable, Hashable, Codable {
    public var accelerator: Accelerator
    /// Path of the QEMU system emulator.
    public var emulator: String
    /// nil means `host-passthrough`.
    public var cpuModel: String?
    public var reason: String

    public static func choose(for arch: GuestArchitecture, on host: HostMachine) -> AcceleratorChoice {
        func tcg(_ reason: String) -> AcceleratorChoice {
            AcceleratorChoice(
                accelerator: .tcg, emulator: "/usr/bin/\(arch.tcgEmulator)", cpuModel: arch.tcgCPUModel,
                reason: "emulating the \(arch.rawValue) guest with TCG (slow): \(reason)")
        }
        guard host.architecture == "aarch64" else {
            return tcg("the host is \(host.architecture) and KVM runs only guests of the host's own architecture")
        }
        guard host.kvmUsable else {
            return tcg("/dev/kvm is missing or not accessible (is the kvm module loaded, is this user in group kvm?)")
        }
        switch arch {
        case .aarch64:
            return AcceleratorChoice(
                accelerator: .kvm, emulator: "/usr/bin/qemu-system-aarch64", cpuModel: nil,
                reason: "KVM on this aarch64 host")
        case .armv7l:
            guard host.kvmRunsAArch32 == true else {
                return tcg("this host's Arm cores cannot run AArch32 at EL1 (KVM_CAP_ARM_EL1_32BIT is absent, as on Neoverse N1/V1), so KVM cannot run 32-bit guests")
            }
            // libvirt turns the aarch64 CPU feature off itself for an armv7l guest on an
            // aarch64 host, which is what lets a host-passthrough vCPU run in AArch32.
            return AcceleratorChoice(
                accelerator: .kvm, emulator: "/usr/bin/qemu-system-aarch64", cpuModel: nil,
                reason: "KVM on this aarch64 host, its cores running the 32-bit guest in AArch32 (aarch64=off)")
        }
    }
}
