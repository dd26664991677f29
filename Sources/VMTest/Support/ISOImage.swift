import Foundation

/// A small ISO 9660 image (Rock Ridge, so modes survive) made with xorriso, or
/// genisoimage where xorriso is missing: how files reach a guest without a network.
public enum ISOImage {
    static let xorriso = ExternalTool("xorriso", debianPackage: "xorriso")
    static let genisoimage = ExternalTool("genisoimage", debianPackage: "genisoimage")

    /// Writes `directory`'s contents to `image` with the volume label `label`.
    public static func write(from directory: URL, label: String, to image: URL) async throws {
        let arguments = ["-quiet", "-V", label, "-J", "-r", "-o", image.path, directory.path]
        if xorriso.path != nil {
            try await xorriso.run(["-as", "mkisofs"] + arguments)
        } else if genisoimage.path != nil {
            try await genisoimage.run(arguments)
        } else {
            throw ToolError.missing(ExternalTool("xorriso", debianPackage: "xorriso (or genisoimage)"))
        }
    }
}
