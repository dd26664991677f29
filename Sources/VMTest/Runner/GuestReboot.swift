/// Boots a run's guest again from its own disk, for a test that asks to be resumed after a
/// reboot (`autopkgtest-reboot`, `tmt-reboot`): the domain is destroyed and started anew
/// on the same overlay, so what the test wrote before survives, as on a real machine
/// power-cycled after a `sync`. The console is opened again; its new shell is returned.
///
/// A power cycle rather than the guest's own `reboot`: vmtest's domains end on reboot
/// (`on_reboot` is `destroy`, so a panicking kernel ends a run in seconds), and a
/// restart through libvirt is the same on every hypervisor.
public struct GuestReboot: Sendable {
    let perform: @Sendable () async throws -> GuestShell

    public func callAsFunction() async throws -> GuestShell { try await perform() }
}
