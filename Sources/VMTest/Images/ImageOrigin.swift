import Foundation

/// The provenance of a fetched image, recorded in its manifest.
public struct ImageOrigin: Sendable, Hashable, Codable {
    public var url: String
    /// SHA-256 of the file as downloaded, verified before anything was prepared.
    public var downloadSHA256: String
    /// Where the expected checksum came from: `profile` or the checksum file's URL.
    public var checksumSource: String
    public var downloadBytes: Int64
    /// Offsets at which the server continued an interrupted download (empty when none was).
    public var resumedFrom: [Int64]
    public var fetchSeconds: Double
    /// Decompress, convert to qcow2, extract the boot files.
    public var prepareSeconds: Double
    /// Which extlinux.conf (and entry) the kernel, initrd and command line came from.
    public var bootConfiguration: String?
}
