import Foundation

/// The image's kernel installed as apt installs it, so that dpkg knows it: a guest's
/// `apt full-upgrade` then brings the next kernel (the meta package pulls in the new ABI's
/// package), initramfs-tools makes its initramfs and u-boot-menu lists it in
/// `/boot/extlinux/extlinux.conf`, which is what a profile booting through U-Boot reads.
///
/// It stays quick: the host's dpkg unpacks the packages into the root (natively; only the
/// small preinst runs under emulation), and the configure step's maintainer scripts (depmod,
/// the /vmlinuz links, u-boot-menu) run under emulation with `update-initramfs` diverted to
/// a no-op: the image's initramfs is vmtest's own (``MinimalInitramfs``), built natively
/// between the two steps and installed where initramfs-tools would have put its own.
struct DebianKernelInstall {
    /// The root file system mmdebstrap made.
    let root: URL
    /// The downloaded kernel package and the meta package that depends on it, if any.
    let packages: [URL]
    /// dpkg's `path-exclude` patterns of the rest of the image.
    let excludedPaths: [String]

    /// u-boot-menu's settings for this image, in a drop-in rather than its conffile
    /// (`/etc/default/u-boot`), so that an upgrade of u-boot-menu asks nothing: the same
    /// command line as ``DebianImageBuilder/kernelCommandLine`` gives direct boots.
    static let bootMenuSettings = """
        # vmtest: how u-boot-update(8) writes /boot/extlinux/extlinux.conf in this image.
        # The console is the virt machine's first serial port, as on a board, and root is
        # found by label (with a seed or payload disk attached, /dev/vda is not always the
        # root disk).
        U_BOOT_ROOT="root=LABEL=\(DebianImageBuilder.filesystemLabel)"
        U_BOOT_PARAMETERS="console=ttyAMA0 rw"
        # QEMU gives the guest its device tree through U-Boot; the kernel package's device
        # trees are for real boards, so none is named.
        U_BOOT_FDT_DIR="/no-device-trees/"
        # Boot the newest kernel at once (tenths of a second); an emulated boot is slow enough.
        U_BOOT_TIMEOUT="1"

        """

    private var dpkg: [String] {
        ["--root=\(root.path)", "--force-architecture", "--force-unsafe-io"]
            + excludedPaths.map { "--path-exclude=\($0)" }
    }

    /// Unpacks the packages and returns the kernel release (`6.1.0-50-armmp-lpae`), whose
    /// modules are then in `usr/lib/modules/RELEASE` and image in `boot/vmlinuz-RELEASE`.
    func unpack() async throws -> String {
        let modules = root.appendingPathComponent("usr/lib/modules")
        let before = Set((try? FileManager.default.contentsOfDirectory(atPath: modules.path)) ?? [])
        try await ExternalTool.dpkg.run(dpkg + ["--unpack"] + packages.map(\.path))
        let added = Set((try? FileManager.default.contentsOfDirectory(atPath: modules.path)) ?? []).subtracting(before)
        guard added.count == 1, let release = added.first else {
            throw DebianImageBuildError.kernelNotFound(
                "\(packages.map(\.lastPathComponent).joined(separator: ", ")) installed \(added.count) kernel module trees")
        }
        guard FileManager.default.fileExists(atPath: root.appendingPathComponent("boot/vmlinuz-\(release)").path) else {
            throw DebianImageBuildError.kernelNotFound("no /boot/vmlinuz-\(release) after unpacking")
        }
        return release
    }

    /// Runs the maintainer scripts (under emulation) with the boot menu's settings in place.
    func configure() async throws {
        let settings = root.appendingPathComponent("etc/u-boot-menu/conf.d/vmtest.conf")
        try FileManager.default.createDirectory(at: settings.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(Self.bootMenuSettings.utf8).write(to: settings)
        try await ExternalTool.dpkg.run(dpkg + ["--configure", "--pending"])
    }
}
