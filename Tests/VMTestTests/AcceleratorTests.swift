import Testing

@testable import VMTest

/// The one place a run's accelerator and guest kernel are chosen, over the kinds of host
/// vmtest meets: x86_64, Cortex-A72 (AArch32 at EL1), Neoverse N1 (AArch32 at EL0 only),
/// Neoverse V2 (no AArch32), Arm without KVM.
@Suite struct AcceleratorTests {
    static let x86 = HostMachine(architecture: "x86_64", kvmUsable: false, kvmRunsAArch32: nil)
    static let cortexA72 = HostMachine(
        architecture: "aarch64", kvmUsable: true, kvmRunsAArch32: true, aarch32Evidence: "KVM_CHECK_EXTENSION answered 1")
    static let neoverseN1 = HostMachine(
        architecture: "aarch64", kvmUsable: true, kvmRunsAArch32: false, aarch32Evidence: "KVM_CHECK_EXTENSION answered 0",
        runs32BitUserland: true)
    static let neoverseV2 = HostMachine(architecture: "aarch64", kvmUsable: true, kvmRunsAArch32: false, runs32BitUserland: false)
    static let armWithoutKVM = HostMachine(architecture: "aarch64", kvmUsable: false, kvmRunsAArch32: nil)

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var arch: GuestArchitecture = .armv7l
        var host: HostMachine
        var request = AcceleratorRequest.automatic
        var accelerator: Accelerator
        var guestKernel: GuestArchitecture
        var emulator: String
        var cpuModel: String?
        var reasonMentions: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        .init(
            name: "x86_64: TCG, 32-bit kernel", host: x86, accelerator: .tcg, guestKernel: .armv7l,
            emulator: "qemu-system-arm", cpuModel: "cortex-a15", reasonMentions: "the host is x86_64"),
        .init(
            name: "x86_64, --guest-kernel 64: TCG with the 64-bit kernel", host: x86, request: .init(guestKernel: .bits64),
            accelerator: .tcg, guestKernel: .aarch64, emulator: "qemu-system-aarch64", cpuModel: "cortex-a72",
            reasonMentions: "--guest-kernel 64"),
        .init(
            name: "Cortex-A72: KVM, 32-bit kernel", host: cortexA72, accelerator: .kvm, guestKernel: .armv7l,
            emulator: "qemu-system-aarch64", reasonMentions: "AArch32 at EL1 (KVM_CHECK_EXTENSION answered 1)"),
        .init(
            name: "Cortex-A72, --guest-kernel 64: KVM, 64-bit kernel", host: cortexA72, request: .init(guestKernel: .bits64),
            accelerator: .kvm, guestKernel: .aarch64, emulator: "qemu-system-aarch64", reasonMentions: "linux32"),
        .init(
            name: "Cortex-A72, --accel tcg: TCG", host: cortexA72, request: .init(accelerator: .tcg), accelerator: .tcg,
            guestKernel: .armv7l, emulator: "qemu-system-arm", cpuModel: "cortex-a15", reasonMentions: "--accel tcg"),
        .init(
            name: "Neoverse N1: KVM, 64-bit kernel", host: neoverseN1, accelerator: .kvm, guestKernel: .aarch64,
            emulator: "qemu-system-aarch64", reasonMentions: "no AArch32 at EL1 (KVM_CHECK_EXTENSION answered 0)"),
        .init(
            name: "Neoverse V2: no 32-bit code at all, TCG", host: neoverseV2, accelerator: .tcg, guestKernel: .armv7l,
            emulator: "qemu-system-arm", cpuModel: "cortex-a15", reasonMentions: "no 32-bit code at all"),
        .init(
            name: "Arm without /dev/kvm: TCG", host: armWithoutKVM, accelerator: .tcg, guestKernel: .armv7l,
            emulator: "qemu-system-arm", cpuModel: "cortex-a15", reasonMentions: "/dev/kvm"),
        .init(
            name: "aarch64 guest on Neoverse N1: KVM", arch: .aarch64, host: neoverseN1, accelerator: .kvm, guestKernel: .aarch64,
            emulator: "qemu-system-aarch64", reasonMentions: "KVM"),
        .init(
            name: "aarch64 guest on x86_64: TCG", arch: .aarch64, host: x86, accelerator: .tcg, guestKernel: .aarch64,
            emulator: "qemu-system-aarch64", cpuModel: "cortex-a72", reasonMentions: "x86_64"),
    ]

    @Test(arguments: cases)
    func choosesOneWayWithItsReason(_ test: Case) throws {
        let choice = try AcceleratorChoice.choose(for: test.arch, on: test.host, request: test.request)
        #expect(choice.accelerator == test.accelerator)
        #expect(choice.guestKernel == test.guestKernel)
        #expect(choice.emulator == "/usr/bin/\(test.emulator)")
        #expect(choice.cpuModel == test.cpuModel)
        #expect(choice.reason.contains(test.reasonMentions), "\(choice.reason)")
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        var name: String
        var arch: GuestArchitecture = .armv7l
        var host: HostMachine
        var request: AcceleratorRequest
        var mentions: String
        var testDescription: String { name }
    }

    static let refusals: [Refusal] = [
        .init(
            name: "--guest-kernel 32 on Neoverse N1", host: neoverseN1, request: .init(guestKernel: .bits32), mentions: "no AArch32 at EL1"),
        .init(
            name: "--accel kvm --guest-kernel 32 on Neoverse N1", host: neoverseN1, request: .init(accelerator: .kvm, guestKernel: .bits32),
            mentions: "no AArch32 at EL1"),
        .init(name: "--accel kvm on x86_64", host: x86, request: .init(accelerator: .kvm), mentions: "the host is x86_64"),
        .init(name: "--accel kvm on Arm without /dev/kvm", host: armWithoutKVM, request: .init(accelerator: .kvm), mentions: "/dev/kvm"),
        .init(
            name: "--guest-kernel 32 for an aarch64 guest", arch: .aarch64, host: cortexA72, request: .init(guestKernel: .bits32),
            mentions: "aarch64"),
    ]

    @Test(arguments: refusals)
    func refusesWhatTheHostCannotDoAsBadInput(_ test: Refusal) {
        let error = #expect(throws: AcceleratorRequestError.self) {
            try AcceleratorChoice.choose(for: test.arch, on: test.host, request: test.request)
        }
        #expect(error?.problem.contains(test.mentions) == true, "\(String(describing: error))")
        #expect(error.map { ExitStatus.for($0) } == ExitStatus.badInput)
    }

    /// This machine, asked for real: an x86_64 host has no Arm KVM, so the probe is not asked.
    @Test func thisMachineIsJudgedByItsOwnProbe() throws {
        let host = HostMachine.current()
        if host.architecture != "aarch64" {
            #expect(host.kvmRunsAArch32 == nil)
            #expect(try AcceleratorChoice.choose(for: .armv7l, on: host).accelerator == .tcg)
        }
    }

    @Test(arguments: [
        ("qemu:///embed?root=/x", true), ("qemu:///system", true), ("qemu+tcp://127.0.0.1:16600/system", false),
        ("qemu+ssh://builder1/system", false),
    ])
    func onlyURIsWithoutAHostAreThisMachine(uri: String, local: Bool) {
        #expect(HypervisorJudge.isThisMachine(uri: uri) == local)
    }
}
