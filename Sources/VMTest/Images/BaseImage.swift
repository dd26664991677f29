import Foundation

/// A base image ready to boot: the disk every run overlays, and how to boot it.
public struct BaseImage: Sendable, Hashable, Codable {
    public var directory: String
    public var disk: String
    public var kernel: String?
    public var initrd: String?
    public var kernelCommandLine: String?
    /// SHA-256 of the disk as built: proof in every report that runs used the same base.
    public var diskSHA256: String
    public var buildSeconds: Double?
    public var builtAt: Date
    /// Where a fetched image came from and what preparing it found; nil for built images.
    public var origin: ImageOrigin?
}
