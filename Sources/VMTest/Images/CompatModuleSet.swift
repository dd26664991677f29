import Foundation

/// Which of the 64-bit kernel's modules the compat kit carries, and where.
///
/// The armhf root file system has only its own 32-bit kernel's modules, so everything the
/// running system loads later (udev for the devices the guest has, systemd, vmtest's
/// commands) has to come with the kit. Two sets:
/// - ``rootModules``, loaded by the initramfs `/init` in dependency order to mount root
///   (the same list the 32-bit image's initramfs uses);
/// - ``runtimeModules``, copied with depmod's tables into a tmpfs over the root's modules
///   directory, for udev and modprobe.
/// Carrying the whole module tree instead would cost about 300 MB of guest memory.
public struct CompatModuleSet: Sendable, Hashable, Codable {
    public var rootModules: [String]
    public var runtimeModules: [String]

    public init(
        rootModules: [String] = CompatModuleSet.standardRootModules,
        runtimeModules: [String] = CompatModuleSet.standardRuntimeModules
    ) {
        self.rootModules = rootModules
        self.runtimeModules = runtimeModules
    }

    /// What the initramfs loads before mounting root: virtio over MMIO and PCI, the disk,
    /// ext4, and virtio_console so `/dev/hvc0` exists before udev runs.
    public static let standardRootModules = DebianImageBuilder.initramfsModules

    /// What the running system may load, beyond the root modules (which it gets too).
    public static let standardRuntimeModules = [
        // Devices of vmtest's domains: network (SSH channel), entropy, SCSI disks.
        "virtio_net", "virtio_rng", "virtio_scsi", "virtio_balloon",
        // The payload disk (`mount -r "$(blkid -L VMTEST_PAYLOAD)"`) and cloud-init seeds
        // (ISO 9660 or VFAT), with the code pages VFAT mounts ask for.
        "isofs", "vfat", "nls_utf8", "nls_cp437", "nls_ascii",
        // What systemd and package tests commonly load on demand.
        "loop", "squashfs", "overlay", "fuse", "autofs4", "configfs", "binfmt_misc", "dm_mod", "tun",
        // Host directories shared with the guest (virtio-9p).
        "9p", "9pnet_virtio",
        // The virt machine's firmware configuration device, which udev finds.
        "qemu_fw_cfg",
    ]

    /// The modules to carry, as paths relative to the modules directory (each after what
    /// it needs, each once): those the initramfs loads to mount root, and the rest of the
    /// running system's set. Built-in modules contribute nothing; an unknown name is an
    /// error, so a kernel that renamed a module fails the build rather than the guest.
    public func select(from index: KernelModuleIndex) throws(KernelModuleIndex.ResolutionError)
        -> (rootLoadOrder: [String], runtimeOnly: [String])
    {
        let root = try index.loadOrder(for: rootModules)
        let all = try index.loadOrder(for: rootModules + runtimeModules)
        let rootSet = Set(root)
        return (root, all.filter { !rootSet.contains($0) })
    }
}
