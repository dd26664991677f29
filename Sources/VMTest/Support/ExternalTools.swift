import Foundation

/// Every host tool vmtest runs, and the Debian package that installs it: one table, so a
/// tool is declared once and `vmtest doctor`, the image builder and the runner agree.
extension ExternalTool {
    // Guests: QEMU and its disks.
    public static let qemuImg = ExternalTool("qemu-img", debianPackage: "qemu-utils")
    public static let qemuSystemArm = ExternalTool("qemu-system-arm", debianPackage: "qemu-system-arm")
    /// Debian's qemu-system-arm package ships both Arm emulators.
    public static let qemuSystemAarch64 = ExternalTool("qemu-system-aarch64", debianPackage: "qemu-system-arm")
    public static let passt = ExternalTool("passt", debianPackage: "passt")

    /// The emulator at `path` (a placement's `emulator`), by its name.
    public static func emulator(_ path: String) -> ExternalTool {
        ExternalTool(URL(fileURLWithPath: path).lastPathComponent, debianPackage: "qemu-system-arm")
    }

    // Provisioning: seeds, payload disks, SSH.
    public static let xorriso = ExternalTool("xorriso", debianPackage: "xorriso")
    public static let genisoimage = ExternalTool("genisoimage", debianPackage: "genisoimage")
    public static let ssh = ExternalTool("ssh", debianPackage: "openssh-client")
    public static let scp = ExternalTool("scp", debianPackage: "openssh-client")
    public static let sshKeygen = ExternalTool("ssh-keygen", debianPackage: "openssh-client")

    // Building images.
    public static let mmdebstrap = ExternalTool("mmdebstrap", debianPackage: "mmdebstrap")
    /// mmdebstrap's check that foreign binaries run (binfmt); optional.
    public static let archTest = ExternalTool("arch-test", debianPackage: "arch-test")
    public static let mkfsExt4 = ExternalTool("mkfs.ext4", debianPackage: "e2fsprogs")
    public static let dpkg = ExternalTool("dpkg", debianPackage: "dpkg")
    public static let dpkgDeb = ExternalTool("dpkg-deb", debianPackage: "dpkg")
    public static let depmod = ExternalTool("depmod", debianPackage: "kmod")
    public static let chroot = ExternalTool("chroot", debianPackage: "coreutils")
    public static let env = ExternalTool("env", debianPackage: "coreutils")
    public static let systemctl = ExternalTool("systemctl", debianPackage: "systemd")
    public static let openssl = ExternalTool("openssl", debianPackage: "openssl")
    public static let aptCache = ExternalTool("apt-cache", debianPackage: "apt")
    public static let aptGet = ExternalTool("apt-get", debianPackage: "apt")
    /// What dpkg installed, told to the image's rpm database (``DpkgProvides``).
    public static let rpmbuild = ExternalTool("rpmbuild", debianPackage: "rpm")
    public static let elfdeps = ExternalTool("/usr/lib/rpm/elfdeps", debianPackage: "rpm")

    // Fetching and preparing images.
    public static let sha256sum = ExternalTool("sha256sum", debianPackage: "coreutils")
    public static let debugfs = ExternalTool("debugfs", debianPackage: "e2fsprogs")
    public static let mcopy = ExternalTool("mcopy", debianPackage: "mtools")

    // Compression: downloaded images, RPM payloads, initramfs.
    public static let xz = ExternalTool("xz", debianPackage: "xz-utils")
    public static let gzip = ExternalTool("gzip", debianPackage: "gzip")
    public static let bzip2 = ExternalTool("bzip2", debianPackage: "bzip2")
    public static let zstd = ExternalTool("zstd", debianPackage: "zstd")

    // Packages and their tests: .deb control data, the run's served repository, source packages.
    public static let tar = ExternalTool("tar", debianPackage: "tar")
    public static let createrepo = ExternalTool("createrepo_c", debianPackage: "createrepo-c")
    public static let dpkgSource = ExternalTool("dpkg-source", debianPackage: "dpkg-dev")

    // The host.
    public static let rpm = ExternalTool("rpm", debianPackage: "rpm")
    public static let setarch = ExternalTool("setarch", debianPackage: "util-linux")
}
