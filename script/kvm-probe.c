/*
 * vmtest's KVM probe as a stand-alone program, for the emulated Arm hosts of
 * script/arm-host: the same two questions, from the same header (Sources/CLibvirt/kvm.h)
 * that the Swift probe (Sources/Libvirt/KVMDevice.swift) uses, cross-compiled for arm64:
 *
 *   aarch64-linux-gnu-gcc -static -I Sources/CLibvirt -o kvm-probe script/kvm-probe.c
 *
 * Prints "KVM_CAP_ARM_EL1_32BIT N" (KVM_CHECK_EXTENSION's answer) and
 * "vcpu-init-el1-32bit N" (1: a vCPU initialised in AArch32 at EL1; 0: refused; <0: -errno).
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include "kvm.h"

int main(void) {
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        printf("no /dev/kvm: %s\n", strerror(errno));
        return 1;
    }
    printf("KVM_CAP_ARM_EL1_32BIT %d\n", vmtest_kvm_check_extension(fd, vmtest_kvm_cap_arm_el1_32bit));
    printf("vcpu-init-el1-32bit %d\n", vmtest_kvm_vcpu_init_el1_32bit(fd));
    close(fd);
    return 0;
}
