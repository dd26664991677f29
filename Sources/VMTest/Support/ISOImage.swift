import Foundation

/// A small ISO 9660 image (Rock Ridge, so modes survive) made with xorriso, or
/// genisoimage where xorriso is missing: how files reach a guest without a network.
public enum ISOImage {
    /// Writes `directory`'s contents to `image` with the volume label `label`.
    public static func write(from directory: URL, label: String, to image: URL) async throws {
        let (tool, prefix) = try writer()
        try await tool.run(prefix + ["-quiet", "-V", label, "-J", "-r", "-o", image.path, directory.path])
    }

    /// The ISO writer this host has, with the arguments that make it speak mkisofs;
    /// throws (naming the package) when there is none, so runs can check before booting.
    public static func writer() throws(ToolError) -> (tool: ExternalTool, prefix: [String]) {
        if ExternalTool.xorriso.path != nil { return (.xorriso, ["-as", "mkisofs"]) }
        if ExternalTool.genisoimage.path != nil { return (.genisoimage, []) }
        throw ToolError.missing(ExternalTool("xorriso", debianPackage: "xorriso (or genisoimage)"))
    }
}
