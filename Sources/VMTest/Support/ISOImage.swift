import Foundation

/// A small ISO 9660 image (Rock Ridge, so modes survive) made with xorriso, or
/// genisoimage where xorriso is missing: how files reach a guest without a network.
public enum ISOImage {
    /// Writes `directory`'s contents to `image` with the volume label `label`.
    public static func write(from directory: URL, label: String, to image: URL) async throws {
        let arguments = ["-quiet", "-V", label, "-J", "-r", "-o", image.path, directory.path]
        if ExternalTool.xorriso.path != nil {
            try await ExternalTool.xorriso.run(["-as", "mkisofs"] + arguments)
        } else if ExternalTool.genisoimage.path != nil {
            try await ExternalTool.genisoimage.run(arguments)
        } else {
            throw ToolError.missing(ExternalTool("xorriso", debianPackage: "xorriso (or genisoimage)"))
        }
    }
}
