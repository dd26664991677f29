import Foundation

/// How to build a Debian base image; decoded from a profile's `image.build` section.
public struct DebianImageRecipe: Sendable, Hashable, Codable {
    /// Debian suite, e.g. `bookworm`. Only its `main` component is used.
    public var suite: String
    /// Debian mirror, e.g. `http://deb.debian.org/debian`.
    public var mirror: String
    /// Debian architecture of the guest, e.g. `armhf`.
    public var architecture: String
    /// Kernel package, a meta package (`linux-image-armmp-lpae`) or a versioned one. It is
    /// unpacked on the host, not installed with apt.
    public var kernelPackage: String
    /// Extra packages for the root file system, on top of ``DebianImageBuilder/basePackages``.
    public var packages: [String]
    /// Size of the (sparse) disk, as `mkfs.ext4` takes it: `4G`, `8192M`.
    public var diskSize: String

    public init(
        suite: String = "bookworm",
        mirror: String = "http://deb.debian.org/debian",
        architecture: String = "armhf",
        kernelPackage: String = "linux-image-armmp-lpae",
        packages: [String] = [],
        diskSize: String = "4G"
    ) {
        self.suite = suite
        self.mirror = mirror
        self.architecture = architecture
        self.kernelPackage = kernelPackage
        self.packages = packages
        self.diskSize = diskSize
    }
}
