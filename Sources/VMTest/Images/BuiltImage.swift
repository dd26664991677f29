import Foundation

/// What ``DebianImageBuilder`` produced: absolute paths inside the build directory.
public struct BuiltImage: Sendable, Hashable, Codable {
    /// The base qcow2 disk (an ext4 file system on the whole disk, no partition table).
    public var disk: String
    public var kernel: String
    public var initrd: String
    public var kernelCommandLine: String
    /// Kernel release, e.g. `6.1.0-50-armmp-lpae`.
    public var kernelVersion: String

    public init(disk: String, kernel: String, initrd: String, kernelCommandLine: String, kernelVersion: String) {
        self.disk = disk
        self.kernel = kernel
        self.initrd = initrd
        self.kernelCommandLine = kernelCommandLine
        self.kernelVersion = kernelVersion
    }
}
