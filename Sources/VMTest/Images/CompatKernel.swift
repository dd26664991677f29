import Foundation

/// A 64-bit Arm kernel kit that boots any 32-bit Arm (armhf) root file system unchanged:
/// Debian's arm64 kernel (`CONFIG_COMPAT=y`) and an initramfs vmtest assembles on the
/// host, whose `/init` mounts the armhf root, gives it this kernel's modules and starts
/// its init with the `linux32` personality (`uname -m` = `armv8l`, `getconf LONG_BIT` = 32).
///
/// For hosts whose cores run AArch32 only at EL0 (Neoverse N1/N2/V1, Cortex-A76): no
/// 32-bit guest kernel can run under KVM there, but 32-bit user space can. Boot it with
/// `qemu-system-aarch64` (`arch='aarch64'` in libvirt), the kit's kernel and initrd, and
/// the image's own kernel command line (root=..., console=...) plus
/// ``kernelCommandLineAdditions``. Made by ``CompatKernelStore/kit(reporter:)``.
public struct CompatKernel: Sendable, Hashable, Codable {
    /// The folder holding the kit (`CACHE/kernels/debian12-arm64/KEY`).
    public var directory: String
    /// The arm64 kernel (`vmlinuz`: Debian ships the uncompressed Image with its EFI stub,
    /// about 32 MB; QEMU loads it directly).
    public var kernel: String
    /// The initramfs (`initrd.img`, zstd-compressed newc cpio).
    public var initrd: String
    /// `uname -r` in the guest, e.g. `6.1.0-50-arm64`.
    public var kernelRelease: String
    /// The Debian package the kernel came from, at its exact version.
    public var kernelPackage: DebianPackageVersion
    public var busyboxPackage: DebianPackageVersion
    /// Words to append to the image's kernel command line; empty today (the image's
    /// root=, rootfstype=, ro/rw, init= and console= are understood as they are).
    public var kernelCommandLineAdditions: [String]
    /// Module paths the initramfs loads before mounting root, in order.
    public var rootModules: [String]
    /// Module paths the running system gets in addition (the tmpfs over its modules
    /// directory holds both sets and depmod's tables).
    public var runtimeModules: [String]
    public var buildSeconds: Double
    public var builtAt: Date

    /// The kernel command line for an image's own: the additions appended once.
    public func kernelCommandLine(forImage imageCommandLine: String) -> String {
        let words = imageCommandLine.split(separator: " ").map(String.init)
        return (words + kernelCommandLineAdditions.filter { !words.contains($0) }).joined(separator: " ")
    }
}

public enum CompatKernelError: Error, CustomStringConvertible, Equatable {
    /// The host's apt does not know the package for the foreign architecture.
    case packageUnknown(String, architecture: String, detail: String)
    case kernelMissing(package: String, detail: String)

    public var description: String {
        switch self {
        case .packageUnknown(let package, let architecture, let detail):
            let why = detail.split(separator: "\n").last.map { ": \($0)" } ?? ""
            return "the host's apt does not know \(package)\(why). The 64-bit guest kernel comes from Debian's \(architecture) packages: "
                + "run `dpkg --add-architecture \(architecture) && apt-get update` (script/setup does it)"
        case .kernelMissing(let package, let detail):
            return "\(package) holds no usable kernel: \(detail)"
        }
    }
}
