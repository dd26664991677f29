import Testing

@testable import VMTest

/// What vmtest reads from a remote hypervisor's capabilities (excerpts of the XML an
/// emulated Cortex-A57 host's libvirt 9.0 and this x86_64 machine's embedded driver gave).
@Suite struct HypervisorCapabilitiesTests {
    static let cortexA57 = """
        <capabilities>
          <host>
            <uuid>575a96ca-ce5b-4c12-ad6e-6add0ee697fc</uuid>
            <cpu>
              <arch>aarch64</arch>
              <model>cortex-a57</model>
              <vendor>ARM</vendor>
              <topology sockets='1' dies='1' cores='2' threads='1'/>
              <feature name='fp'/>
            </cpu>
          </host>
          <guest>
            <os_type>hvm</os_type>
            <arch name='armv7l'>
              <wordsize>32</wordsize>
              <emulator>/usr/bin/qemu-system-arm</emulator>
              <domain type='qemu'/>
              <domain type='kvm'/>
            </arch>
          </guest>
          <guest>
            <os_type>hvm</os_type>
            <arch name='aarch64'>
              <wordsize>64</wordsize>
              <emulator>/usr/bin/qemu-system-aarch64</emulator>
              <domain type='qemu'/>
              <domain type='kvm'/>
            </arch>
          </guest>
        </capabilities>
        """

    static let x86Embedded = """
        <capabilities>
          <host>
            <cpu>
              <arch>x86_64</arch>
              <model>EPYC-Rome</model>
              <vendor>AMD</vendor>
            </cpu>
          </host>
          <guest>
            <os_type>hvm</os_type>
            <arch name='armv7l'>
              <emulator>/usr/bin/qemu-system-arm</emulator>
              <domain type='qemu'/>
            </arch>
          </guest>
        </capabilities>
        """

    @Test func anArmHostOfferingKVM() {
        let host = HypervisorCapabilities(xml: Self.cortexA57).host
        #expect(host.architecture == "aarch64")
        #expect(host.kvmUsable)
        #expect(host.cpu == "cortex-a57, ARM")
        #expect(host.kvmRunsAArch32 == nil, "capabilities cannot tell; the probe domain does")
    }

    @Test func anX86HostOffersNoKVMForArmGuests() throws {
        let host = HypervisorCapabilities(xml: Self.x86Embedded).host
        #expect(host.architecture == "x86_64")
        #expect(!host.kvmUsable)
        #expect(try AcceleratorChoice.choose(for: .armv7l, on: host).accelerator == .tcg)
    }
}

/// QEMU's refusal, as libvirt 9.0 on an emulated Cortex-A76 host words it (two prefixes
/// were seen, depending on timing), quoted down to QEMU's own words.
@Suite struct AArch32RefusalTests {
    @Test(arguments: [
        "internal error: qemu unexpectedly closed the monitor: 2026-11-30T13:15:12.040664Z qemu-system-aarch64: can't apply global host-arm-cpu.aarch64=off: 'aarch64' feature cannot be disabled unless KVM is enabled and 32-bit EL1 is supported",
        "internal error: process exited while connecting to monitor: 2026-11-30T13:42:22.874231Z qemu-system-aarch64: can't apply global host-arm-cpu.aarch64=off: 'aarch64' feature cannot be disabled unless KVM is enabled and 32-bit EL1 is supported",
    ])
    func quotesQEMUsOwnWords(message: String) {
        #expect(message.contains(HypervisorJudge.noAArch32EL1Message))
        #expect(
            HypervisorJudge.quoted(message)
                == "qemu-system-aarch64: can't apply global host-arm-cpu.aarch64=off: 'aarch64' feature cannot be disabled unless KVM is enabled and 32-bit EL1 is supported"
        )
    }
}
