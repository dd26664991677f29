import Foundation

/// Everything that goes into one guest's libvirt domain XML, already resolved to paths.
///
/// Kept apart from ``Profile`` so that rendering is a pure function of plain values and
/// can be tested against golden files.
public struct DomainDefinition: Sendable, Hashable {
    public var name: String
    /// Set for a guest restored from a saved state, whose copy names this UUID; libvirt picks one otherwise.
    public var uuid: UUID? = nil
    public var run: RunTag
    public var arch: GuestArchitecture
    public var machine: String
    public var accelerator: AcceleratorChoice
    public var cpus: Int
    public var memoryMiB: Int
    public var boot: Boot
    public var disks: [Disk]
    /// File that receives everything the guest writes to its first serial port.
    public var consoleLog: String
    /// Keep what the file holds: a restored guest's log starts with the boot it was saved after.
    public var appendsToConsoleLog = false
    /// The device the command channel uses; a virtio console is added for `hvc0`.
    public var commandConsole: ConsoleDevice
    /// Host port on 127.0.0.1 forwarded to the guest's SSH port; nil means no network.
    public var sshForwardPort: Int? = nil
    /// Host CPUs the guest's threads run on; nil leaves them to the host's scheduler.
    public var cpuTune: CPUTune? = nil

    /// libvirt's `<cputune>`: which host CPUs each vCPU thread and QEMU's emulator
    /// thread may run on. A cpuset is libvirt's syntax: "0", "2-3", "0-7,^4".
    public struct CPUTune: Sendable, Hashable {
        public struct VCPUPin: Sendable, Hashable {
            public var vcpu: Int
            public var cpuset: String

            public init(vcpu: Int, cpuset: String) {
                self.vcpu = vcpu
                self.cpuset = cpuset
            }
        }

        public var vcpuPins: [VCPUPin]
        public var emulatorPin: String?

        public init(vcpuPins: [VCPUPin], emulatorPin: String? = nil) {
            self.vcpuPins = vcpuPins
            self.emulatorPin = emulatorPin
        }
    }

    public enum Boot: Sendable, Hashable {
        case directKernel(kernel: String, initrd: String?, commandLine: String)
        /// A U-Boot (or other) firmware image QEMU loads as its ROM (`-bios`).
        case firmware(path: String)
    }

    public struct Disk: Sendable, Hashable {
        public enum Kind: Sendable, Hashable {
            case qcow2Overlay
            /// A read-only raw image: the cloud-init seed.
            case readOnlyImage
            /// The files of a console-only run: a read-only raw image the guest finds by its
            /// serial number (``PayloadDisk``).
            case payload
        }

        public var kind: Kind
        public var path: String

        public init(kind: Kind, path: String) {
            self.kind = kind
            self.path = path
        }
    }

    /// vmtest's own metadata on every domain it creates: how leftovers are recognised.
    public struct RunTag: Sendable, Hashable {
        public static let namespaceURI = "https://github.com/vmtest/vmtest/run/1"
        public var id: String
        public var profile: String
        /// The vmtest process that owns the guest; a dead owner means a leftover.
        public var ownerPID: Int32
        /// The owner's host name: on a shared daemon, only that host can tell if the owner lives.
        public var host: String

        public init(id: String, profile: String, ownerPID: Int32, host: String = ProcessInfo.processInfo.hostName) {
            self.id = id
            self.profile = profile
            self.ownerPID = ownerPID
            self.host = host
        }
    }

    /// The disks in the order they are attached: the guest's own disk last. On the virt
    /// machine the disk attached last is the first virtio disk, which is where U-Boot's
    /// distro boot looks for extlinux.conf (virtio 0) and what Linux calls vda; a seed or
    /// payload disk never stands in its way.
    public var disksInBusOrder: [Disk] {
        disks.filter { $0.kind != .qcow2Overlay } + disks.filter { $0.kind == .qcow2Overlay }
    }

    /// The libvirt console device name of the command channel (what
    /// `virDomainOpenConsole` takes): the serial port, or the virtio console after it.
    public var commandConsoleAlias: String {
        commandConsole == .hvc0 ? "console1" : "serial0"
    }
}
