import Foundation

/// The disk that carries a console-only run's files into its guest: a tar archive written
/// raw onto the disk, found by its serial number and unpacked by one process. No
/// filesystem is probed or mounted: under TCG a restored guest took 0.21 s to mount an
/// ISO 9660 payload by its label and 0.13-0.28 s more to copy the files out of it.
///
/// A restored guest saw the empty slot in the payload's place when it was saved, and read
/// from it at boot; the save drops what the guest cached of it (``flushCommand``), or the
/// run would read the slot's zeros instead of its files.
enum PayloadDisk {
    /// The disk's serial number: the guest reads it as /sys/block/vdX/serial.
    static let serial = "vmtest-payload"
    /// The file in every payload that names its run: tar and cpio both take a disk of
    /// zeros for an empty archive, so without it a payload that did not arrive would pass.
    static let markFile = ".vmtest-payload"

    /// Writes the folder `content` as run `runID`'s payload into `image`.
    static func write(from content: URL, runID: String, to image: URL) async throws {
        try Data((runID + "\n").utf8).write(to: content.appendingPathComponent(markFile))
        // ustar, which GNU cpio reads too; owned by root, like the guest's own files.
        try await ExternalTool.tar.run([
            "--format=ustar", "--owner=0", "--group=0", "--numeric-owner", "-C", content.path, "-cf", image.path, ".",
        ])
    }

    /// Sets `payload` to the disk's device, or fails saying so. Shell builtins only; the
    /// kernel ends a serial number with no newline, so `read` finds the end of the file.
    static let findCommand = """
        payload=
        for d in /sys/block/vd*; do s=; read -r s <"$d/serial" 2>/dev/null || true; [ "$s" != \(serial) ] || payload=/dev/${d##*/}; done
        [ -n "$payload" ] || { echo "vmtest: the guest has no disk with serial \(serial)" >&2; exit 1; }
        """

    /// Unpacks run `runID`'s payload into `directory`: with tar, or with GNU cpio where the
    /// guest has no tar (dracut needs cpio, so every CentOS 7 image has it).
    static func unpackCommand(into directory: String, runID: String) -> String {
        let folder = ShellWords.quote(directory)
        return findCommand + "\n"
            + """
            if command -v tar >/dev/null; then tar -C \(folder) -xmf "$payload"; else (cd \(folder) && cpio -idu --quiet <"$payload"); fi
            read -r run <\(folder)/\(markFile) && [ "$run" = \(ShellWords.quote(runID)) ] \
            || { echo "vmtest: $payload held no payload of run \(runID)" >&2; exit 1; }
            """
    }

    /// Drops what the guest cached of the disk; run before the guest is saved.
    static let flushCommand = findCommand + "\nblockdev --flushbufs \"$payload\""
}
