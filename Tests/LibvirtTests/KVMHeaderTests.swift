import Foundation
import Testing

@testable import Libvirt

/// The KVM numbers Swift sees are the ones a C compiler reads in <linux/kvm.h>: the test a
/// retyped capability id (34, x86's KVM_CAP_SET_BOOT_CPU_ID, asked instead of 93) would have failed.
@Suite struct KVMHeaderTests {
    @Test func numbersMatchTheHeader() throws {
        let names = ["KVM_CAP_ARM_EL1_32BIT", "KVM_CHECK_EXTENSION", "KVM_CREATE_VM", "KVM_CREATE_VCPU"]
        let header = try CHeaderValues.read(names, from: "linux/kvm.h")
        #expect(header["KVM_CAP_ARM_EL1_32BIT"] == UInt(KVMDevice.capabilityARMEL1_32Bit))
        #expect(KVMDevice.capabilityARMEL1_32Bit == 93)
        for (name, value) in KVMDevice.requests {
            #expect(header[name] == value, "\(name)")
        }
        #expect(KVMDevice.requests.count == 3)
    }

    /// On a machine without /dev/kvm (this x86_64 CI host) the probe says it could not ask.
    @Test func probeWithoutADeviceCannotAnswer() {
        let answer = KVMDevice.probeAArch32EL1(path: "/nonexistent/kvm")
        #expect(answer.supported == nil)
        #expect(answer.evidence.contains("/nonexistent/kvm cannot be opened"))
        #expect(!KVMDevice.isUsable(path: "/nonexistent/kvm"))
    }
}
