import Foundation
import Libvirt
import Synchronization

/// A booted guest inside a ``GuestLauncher/withGuest(_:options:_:)`` scope.
public struct Guest: Sendable {
    public let runID: String
    public let profile: Profile
    public let domainName: String
    /// How it runs: the placement's choice, or the 64-bit kernel a refused 32-bit vCPU fell back to.
    public let accelerator: AcceleratorChoice
    public let image: BaseImage
    /// The serial console's whole output, written by QEMU.
    public let consoleLog: URL
    public let shell: GuestShell
    /// The host port forwarded to the guest's SSH port, if any.
    public let sshForwardPort: Int?
    /// Booted, or restored from a saved state.
    public let start: GuestStart
    /// Seconds each launch phase took, in order.
    public let phases: [PhaseTiming]
    /// How it was decided to boot: the prepared plan, or the one decided again when the
    /// hypervisor refused a 32-bit vCPU.
    public let plan: GuestPlan
    /// Boots it again from its disk; the shell to use afterwards is returned.
    public let reboot: GuestReboot
    let keepSwitch: KeepSwitch

    /// Leaves the guest running (and its overlay on disk) when the scope ends, for a
    /// person to debug; `vmtest clean --kept` removes it later.
    public func keepRunning() { keepSwitch.keep() }
}
