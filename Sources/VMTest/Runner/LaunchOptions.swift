import Foundation

/// What a launch attaches to a planned guest (``GuestPlan``), and how it waits for it:
/// the run's own files and limits, no decisions.
public struct LaunchOptions: Sendable {
    /// libvirt URI; nil means this process's embedded QEMU driver. Read only by
    /// ``GuestLauncher/withGuest(_:options:_:)``, which plans the guest itself.
    public var connectURI: String?
    /// How long the guest may take to answer on its console; nil scales a default by accelerator.
    public var readyTimeout: Duration?
    /// A cloud-init NoCloud seed image attached read-only as the second disk.
    public var seed: URL?
    /// Forward this port on 127.0.0.1 to the guest's port 22.
    public var sshForwardPort: Int?
    /// The run's files on a disk of their own (``PayloadDisk``), after the seed.
    public var payload: URL?
    /// Where the serial console's whole output goes; by default into the run directory,
    /// which teardown deletes.
    public var consoleLog: URL?
    /// The run's identifier; a new one when nil. Read only by ``GuestLauncher/withGuest(_:options:_:)``.
    public var runID: String?
    /// Boot from the kernel even when a saved state could be restored.
    public var cold = false
    /// What `--accel` / `--guest-kernel` force on the way the guest runs. Read only by
    /// ``GuestLauncher/withGuest(_:options:_:)``.
    public var accelerator = AcceleratorRequest.automatic
    /// The seed a saved guest boots with, when ``seed`` is a run's own; without it a
    /// seeded run boots cold.
    public var warmSeed: WarmSeed?
    /// The run's own commands before its first test, sent with the launcher's own.
    public var setUp = GuestSetUp()

    public init(connectURI: String? = nil, readyTimeout: Duration? = nil, seed: URL? = nil, sshForwardPort: Int? = nil) {
        self.connectURI = connectURI
        self.readyTimeout = readyTimeout
        self.seed = seed
        self.sshForwardPort = sshForwardPort
    }
}
