import ArgumentParser
import VMTest

extension Accelerator: ExpressibleByArgument {}
extension GuestKernelBits: ExpressibleByArgument {}

/// `--accel` and `--guest-kernel`: force how the guest runs; automatic by default.
struct AcceleratorOptions: ParsableArguments {
    @Option(name: .customLong("accel"), help: "kvm or tcg (default: KVM when the hypervisor's host can run the guest with it).")
    var accelerator: Accelerator?

    @Option(
        help: "32 (the guest's own armv7l kernel) or 64 (a 64-bit kernel under the armhf userland); default: what the host runs fastest.")
    var guestKernel: GuestKernelBits?

    var request: AcceleratorRequest { AcceleratorRequest(accelerator: accelerator, guestKernel: guestKernel) }
}
