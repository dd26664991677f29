import Testing

@testable import VMTest

@Suite struct AcceleratorTests {
    struct FakeProbe: KVMProbe {
        var isUsable: Bool
        var supportsAArch32EL1: Bool
    }

    @Test func x86HostEmulatesWithTCG() {
        let choice = AcceleratorChoice.choose(for: .armv7l, on: HostMachine(architecture: "x86_64", kvmUsable: true, kvmRunsAArch32: nil))
        #expect(choice.accelerator == .tcg)
        #expect(choice.emulator == "/usr/bin/qemu-system-arm")
        #expect(choice.cpuModel == "cortex-a15")
        #expect(choice.reason.contains("x86_64"))
    }

    @Test func aarch64HostWithAArch32RunsKVM() {
        let host = HostMachine(architecture: "aarch64", kvmUsable: true, kvmRunsAArch32: true)
        let choice = AcceleratorChoice.choose(for: .armv7l, on: host)
        #expect(choice.accelerator == .kvm)
        #expect(choice.emulator == "/usr/bin/qemu-system-aarch64")
        #expect(choice.cpuModel == nil)
    }

    @Test func neoverseHostFallsBackToTCGAndSaysWhy() {
        let choice = AcceleratorChoice.choose(for: .armv7l, on: HostMachine(architecture: "aarch64", kvmUsable: true, kvmRunsAArch32: false))
        #expect(choice.accelerator == .tcg)
        #expect(choice.reason.contains("AArch32 at EL1"))
    }

    @Test func aarch64WithoutKVMDeviceEmulates() {
        let choice = AcceleratorChoice.choose(for: .armv7l, on: HostMachine(architecture: "aarch64", kvmUsable: false, kvmRunsAArch32: nil))
        #expect(choice.accelerator == .tcg)
        #expect(choice.reason.contains("/dev/kvm"))
    }

    @Test func aarch64GuestOnAarch64HostNeedsNoAArch32() {
        let choice = AcceleratorChoice.choose(for: .aarch64, on: HostMachine(architecture: "aarch64", kvmUsable: true, kvmRunsAArch32: false))
        #expect(choice.accelerator == .kvm)
    }

    @Test func hostDetectionAsksTheProbeOnlyOnArm() {
        let host = HostMachine.current(probe: FakeProbe(isUsable: true, supportsAArch32EL1: true))
        #expect(host.kvmUsable)
        if host.architecture != "aarch64" { #expect(host.kvmRunsAArch32 == nil) }
    }
}
