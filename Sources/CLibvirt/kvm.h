#ifndef VMTEST_CLIBVIRT_KVM_H
#define VMTEST_CLIBVIRT_KVM_H
/*
 * KVM's numbers and the two questions vmtest asks it, straight from <linux/kvm.h>.
 *
 * Swift imports neither function-like macros (the _IO() request numbers) nor variadic
 * functions (ioctl), so the request numbers are re-exported as constants computed by
 * the header itself, and the ioctl calls are small inline functions. Nothing here is
 * retyped: a retyped capability id once made vmtest ask KVM the wrong question.
 */
#include <errno.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

static const unsigned long vmtest_kvm_check_extension_request = KVM_CHECK_EXTENSION;
static const unsigned long vmtest_kvm_create_vm_request = KVM_CREATE_VM;
static const unsigned long vmtest_kvm_create_vcpu_request = KVM_CREATE_VCPU;
static const int vmtest_kvm_cap_arm_el1_32bit = KVM_CAP_ARM_EL1_32BIT;

/* KVM_CHECK_EXTENSION on an open /dev/kvm: > 0 supported, 0 not, < 0 -errno. */
static inline int vmtest_kvm_check_extension(int kvm_fd, int capability) {
    int answer = ioctl(kvm_fd, KVM_CHECK_EXTENSION, capability);
    return answer < 0 ? -errno : answer;
}

/*
 * The definitive AArch32-at-EL1 question: a scratch VM with one vCPU initialised with
 * KVM_ARM_VCPU_EL1_32BIT, as QEMU does for `-cpu host,aarch64=off`.
 * 1: the vCPU runs AArch32 at EL1; 0: KVM refused it (EINVAL); < 0: -errno of a step
 * that could not be asked (-ENOSYS when vmtest was not built for aarch64).
 */
static inline int vmtest_kvm_vcpu_init_el1_32bit(int kvm_fd) {
#if defined(__aarch64__)
    int vm = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    if (vm < 0) return -errno;
    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0) {
        int error = errno;
        close(vm);
        return -error;
    }
    struct kvm_vcpu_init init = {0};
    int result;
    if (ioctl(vm, KVM_ARM_PREFERRED_TARGET, &init) < 0) {
        result = -errno;
    } else {
        init.features[0] |= 1u << KVM_ARM_VCPU_EL1_32BIT;
        if (ioctl(vcpu, KVM_ARM_VCPU_INIT, &init) == 0) {
            result = 1;
        } else {
            result = errno == EINVAL ? 0 : -errno;
        }
    }
    close(vcpu);
    close(vm);
    return result;
#else
    (void)kvm_fd;
    return -ENOSYS;
#endif
}

#endif
