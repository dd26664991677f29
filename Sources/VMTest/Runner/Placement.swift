import Foundation
import Libvirt
import Synchronization

/// Where and how a guest runs: a hypervisor, what its host can do, and the way the guest
/// runs there, decided once by ``GuestLauncher/place(_:connectURI:request:)``.
public struct Placement: Sendable {
    public let hypervisor: Hypervisor
    public let host: HostMachine
    public let mode: AcceleratorChoice
    /// What was forced, so a fallback honours it too.
    public let request: AcceleratorRequest

    /// A KVM start of a 32-bit vCPU refused for want of AArch32 at EL1, when nobody forced
    /// the 32-bit kernel.
    func canFallBackToCompatKernel(after error: LibvirtError) -> Bool {
        mode.accelerator == .kvm && mode.guestKernel == .armv7l && request.guestKernel != .bits32
            && error.message.contains(HypervisorJudge.noAArch32EL1Message)
    }
}
