internal import CLibvirt
import Foundation

/// What the kernel's KVM on this machine can do for Arm guests.
///
/// Lives beside the libvirt wrappers because it is the other piece of C vmtest talks to:
/// its numbers come from `<linux/kvm.h>` through `CLibvirt`, never retyped.
public enum KVMDevice {
    public static let path = "/dev/kvm"

    /// `KVM_CAP_ARM_EL1_32BIT` as the header defines it.
    public static var capabilityARMEL1_32Bit: Int { Int(vmtest_kvm_cap_arm_el1_32bit) }

    /// The ioctl request numbers this probe uses, as the header computes them (for tests
    /// that compare them with a C compiler's view).
    public static var requests: [String: UInt] {
        [
            "KVM_CHECK_EXTENSION": UInt(vmtest_kvm_check_extension_request),
            "KVM_CREATE_VM": UInt(vmtest_kvm_create_vm_request),
            "KVM_CREATE_VCPU": UInt(vmtest_kvm_create_vcpu_request),
        ]
    }

    /// Whether this process may open `/dev/kvm` read-write.
    public static func isUsable(path: String = KVMDevice.path) -> Bool {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        close(fd)
        return true
    }

    /// KVM's answer to "can a vCPU run AArch32 at EL1", which decides whether a 32-bit
    /// guest kernel can run under KVM here.
    public struct AArch32Answer: Sendable, Hashable {
        /// nil: KVM could not be asked (no /dev/kvm, not an Arm host).
        public var supported: Bool?
        /// How the answer was found, in words, for `vmtest doctor` and summary.json.
        public var evidence: String
    }

    /// Asks KVM_CHECK_EXTENSION(KVM_CAP_ARM_EL1_32BIT) and then, to be sure, initialises
    /// a scratch vCPU with KVM_ARM_VCPU_EL1_32BIT: the capability says what KVM claims,
    /// the vCPU init is what QEMU will actually need.
    public static func probeAArch32EL1(path: String = KVMDevice.path) -> AArch32Answer {
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else {
            return AArch32Answer(supported: nil, evidence: "\(path) cannot be opened (\(String(cString: strerror(errno))))")
        }
        defer { close(fd) }
        let capability = vmtest_kvm_check_extension(fd, vmtest_kvm_cap_arm_el1_32bit)
        let claimed = "KVM_CHECK_EXTENSION(KVM_CAP_ARM_EL1_32BIT = \(capabilityARMEL1_32Bit)) answered \(capability)"
        guard capability > 0 else {
            return AArch32Answer(supported: capability == 0 ? false : nil, evidence: claimed)
        }
        let vcpu = vmtest_kvm_vcpu_init_el1_32bit(fd)
        switch vcpu {
        case 1:
            return AArch32Answer(supported: true, evidence: "\(claimed); a vCPU initialised with KVM_ARM_VCPU_EL1_32BIT")
        case 0:
            return AArch32Answer(
                supported: false, evidence: "\(claimed), but KVM_ARM_VCPU_INIT with KVM_ARM_VCPU_EL1_32BIT failed (EINVAL)")
        default:
            // Not built for aarch64, or the scratch VM could not be made: the capability stands.
            return AArch32Answer(
                supported: true, evidence: "\(claimed) (vCPU check not possible: \(String(cString: strerror(-vcpu))))")
        }
    }
}
