import Foundation

/// The dpkg status of a Debian base image (`/var/lib/dpkg/status`): what its guests have
/// installed, which the host's apt resolves a run's `.deb` dependencies against. Read
/// once per image from its disk (no boot, no mount: qemu-img and debugfs), and kept in
/// the cache under the disk's checksum.
enum GuestDpkgStatus {
    static func file(for image: BaseImage, cache: URL) async throws -> URL {
        let kept = cache.appendingPathComponent("dpkg-status").appendingPathComponent(image.diskSHA256)
        if FileManager.default.fileExists(atPath: kept.path) { return kept }
        try FileManager.default.createDirectory(at: kept.deletingLastPathComponent(), withIntermediateDirectories: true)
        let scratch = try ScratchFolder.make(in: kept.deletingLastPathComponent(), prefix: "reading")
        defer { try? FileManager.default.removeItem(at: scratch) }
        // The built images' disks hold their root file system in partition 1 (BootDisk).
        let raw = scratch.appendingPathComponent("disk.raw")
        try await ExternalTool.qemuImg.run(["convert", "-f", "qcow2", "-O", "raw", image.disk, raw.path])
        guard let root = try PartitionTable.read(file: raw)?.partitions.first,
            let status = try await PartitionVolume(disk: raw, partition: root).readText("/var/lib/dpkg/status"),
            status.contains("Package: dpkg")
        else {
            throw GuestDpkgStatusError(image: image.disk)
        }
        let written = scratch.appendingPathComponent("status")
        try Data(status.utf8).write(to: written)
        do {
            try FileManager.default.moveItem(at: written, to: kept)
        } catch  where FileManager.default.fileExists(atPath: kept.path) {
            // Another run read the same image at the same time: its copy is as good.
        }
        return kept
    }
}

struct GuestDpkgStatusError: InfrastructureError, CustomStringConvertible {
    var image: String
    var description: String { "\(image) holds no dpkg status (/var/lib/dpkg/status): is it a Debian image vmtest built?" }
}
