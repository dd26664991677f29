import Foundation
import Subprocess
import SystemPackage

/// Turns a verified download into a base image: decompressed by streaming, converted to
/// qcow2 once, and, when the image boots through an `extlinux.conf`, its kernel, initrd
/// and command line copied out beside it for direct kernel boot.
///
/// Nothing here needs root or a loop mount: the partition table is read in Swift, ext2/3/4
/// partitions with e2fsprogs' `debugfs` (`IMAGE?offset=BYTES`), FAT ones with mtools
/// (`mcopy -i IMAGE@@OFFSET`).
struct ImagePreparer: Sendable {
    var reporter: any Reporter

    struct Prepared: Sendable {
        var disk: URL
        var boot: BootFiles?
    }

    /// Kernel, initrd and command line from the image's own extlinux.conf.
    struct BootFiles: Sendable, Hashable {
        var kernel: URL
        var initrd: URL?
        var commandLine: String
        /// Where it came from, for the manifest: `partition 1 (ext), /extlinux/extlinux.conf, label vmtest`.
        var origin: String
    }

    enum Format: String, Sendable { case xz, gzip, zstd, qcow2, raw }

    /// The format of a file by its first bytes (the name may lie; the magic does not).
    static func format(of file: URL) throws -> Format {
        let handle = try FileHandle(forReadingFrom: file)
        defer { try? handle.close() }
        let head = [UInt8](try handle.read(upToCount: 6) ?? Data())
        if head.starts(with: [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00]) { return .xz }
        if head.starts(with: [0x1F, 0x8B]) { return .gzip }
        if head.starts(with: [0x28, 0xB5, 0x2F, 0xFD]) { return .zstd }
        if head.starts(with: Array("QFI".utf8) + [0xFB]) { return .qcow2 }
        return .raw
    }

    /// Prepares `download` into `directory` (a scratch folder the caller renames into
    /// place): `disk.qcow2`, and `boot/vmlinuz`, `boot/initrd`, `boot/cmdline` when found.
    func prepare(download: URL, into directory: URL, needsBootFiles: Bool) async throws -> Prepared {
        let raw = directory.appendingPathComponent("disk.raw.tmp")
        defer { try? FileManager.default.removeItem(at: raw) }
        let format = try Self.format(of: download)
        switch format {
        case .xz, .gzip, .zstd:
            reporter.detail("image", "decompressing (\(format.rawValue))")
            let tool = format == .xz ? ExternalTool.xz : format == .gzip ? .gzip : .zstd
            let threads = format == .xz ? ["-T0"] : []
            try await tool.run(["-d", "-c"] + threads + [download.path], standardOutputTo: raw)
        case .qcow2:
            try await ExternalTool.qemuImg.run(["convert", "-f", "qcow2", "-O", "raw", download.path, raw.path])
        case .raw:
            // A hard link costs nothing; the raw copy is removed afterwards either way.
            if (try? FileManager.default.linkItem(at: download, to: raw)) == nil {
                try FileManager.default.copyItem(at: download, to: raw)
            }
        }

        reporter.detail("image", "looking for extlinux.conf")
        let boot = try await extractBootFiles(from: raw, into: directory.appendingPathComponent("boot"))
        if boot == nil {
            if needsBootFiles {
                throw ImageError.noBootConfiguration(image: download.lastPathComponent, searched: ExtlinuxConfig.searchPaths)
            }
            reporter.note(
                "\(download.lastPathComponent) has no extlinux.conf (searched \(ExtlinuxConfig.searchPaths.joined(separator: ", ")) on every partition); only U-Boot's own boot script can boot it"
            )
        }

        reporter.detail("image", "converting to qcow2")
        let disk = directory.appendingPathComponent("disk.qcow2")
        try await ExternalTool.qemuImg.run(["convert", "-f", "raw", "-O", "qcow2", raw.path, disk.path])
        return Prepared(disk: disk, boot: boot)
    }

    /// Finds the extlinux.conf U-Boot's distro boot would read (bootable partitions first,
    /// as it scans them) and copies out its default entry's kernel and initrd.
    func extractBootFiles(from raw: URL, into bootDirectory: URL) async throws -> BootFiles? {
        let table = try PartitionTable.read(file: raw)
        var candidates = table?.partitions ?? []
        if table == nil {
            let size = UInt64(ImageFetcher.size(of: raw))
            candidates = [.init(number: 0, offset: 0, size: size, bootable: true, type: "whole disk")]
        }
        let bootable = candidates.filter(\.bootable)
        // U-Boot 2023.01 scans only the bootable partitions when any is marked.
        let ordered = bootable.isEmpty ? candidates : bootable
        for partition in ordered {
            let volume = try PartitionVolume(disk: raw, partition: partition)
            guard volume.kind != .unknown else { continue }
            for path in ExtlinuxConfig.searchPaths {
                guard let text = try await volume.readText(path) else { continue }
                let config = ExtlinuxConfig(parsing: text)
                guard let entry = config.defaultEntry, let kernelPath = entry.kernel else {
                    throw ImageError.unusableBootConfiguration(
                        file: path, reason: "it has no LABEL with a KERNEL line (labels: \(config.entries.map(\.label)))")
                }
                try FileManager.default.createDirectory(at: bootDirectory, withIntermediateDirectories: true)
                let kernel = bootDirectory.appendingPathComponent("vmlinuz")
                try await volume.copy(ExtlinuxConfig.resolve(kernelPath), to: kernel, conf: path)
                var initrd: URL?
                if let initrdPath = entry.initrd {
                    initrd = bootDirectory.appendingPathComponent("initrd")
                    try await volume.copy(ExtlinuxConfig.resolve(initrdPath), to: initrd!, conf: path)
                }
                let commandLine = entry.append ?? ""
                try Data((commandLine + "\n").utf8).write(to: bootDirectory.appendingPathComponent("cmdline"))
                let place = partition.number == 0 ? "the whole disk" : "partition \(partition.number)"
                return BootFiles(
                    kernel: kernel, initrd: initrd, commandLine: commandLine,
                    origin: "\(place) (\(volume.kind.rawValue)), \(path), label \(entry.label)")
            }
        }
        return nil
    }
}

/// One partition of a raw disk, read without mounting it.
struct PartitionVolume: Sendable {
    enum Kind: String, Sendable { case ext, fat, unknown }

    let disk: URL
    let partition: PartitionTable.Partition
    let kind: Kind

    init(disk: URL, partition: PartitionTable.Partition) throws {
        self.disk = disk
        self.partition = partition
        let handle = try FileHandle(forReadingFrom: disk)
        defer { try? handle.close() }
        try handle.seek(toOffset: partition.offset)
        let head = [UInt8](try handle.read(upToCount: 2048) ?? Data())
        kind = Self.detect(head)
    }

    /// ext2/3/4: magic 0xEF53 at 1080; FAT: a boot sector naming its FAT type.
    static func detect(_ head: [UInt8]) -> Kind {
        if head.count >= 1082, head[1080] == 0x53, head[1081] == 0xEF { return .ext }
        if head.count >= 512, head[510] == 0x55, head[511] == 0xAA {
            let fat16 = String(decoding: head[54..<62], as: UTF8.self)
            let fat32 = String(decoding: head[82..<90], as: UTF8.self)
            if fat16.hasPrefix("FAT") || fat32.hasPrefix("FAT") { return .fat }
        }
        return .unknown
    }

    private var debugfsTarget: String { "\(disk.path)?offset=\(partition.offset)" }
    private var mtoolsTarget: String { "\(disk.path)@@\(partition.offset)" }
    private static let mtoolsEnvironment = ["MTOOLS_SKIP_CHECK": "1"]

    /// A file's text, or nil when the file is not there.
    func readText(_ path: String) async throws -> String? {
        let scratch = disk.deletingLastPathComponent().appendingPathComponent(".probe-\(getpid())")
        defer { try? FileManager.default.removeItem(at: scratch) }
        guard try await copyIfPresent(path, to: scratch) else { return nil }
        return String(decoding: try Data(contentsOf: scratch), as: UTF8.self)
    }

    func copy(_ path: String, to destination: URL, conf: String) async throws {
        guard try await copyIfPresent(path, to: destination) else {
            throw ImageError.unusableBootConfiguration(
                file: conf, reason: "it names \(path), which is not on partition \(partition.number)")
        }
    }

    private func copyIfPresent(_ path: String, to destination: URL) async throws -> Bool {
        try? FileManager.default.removeItem(at: destination)
        switch kind {
        case .ext:
            // debugfs exits 0 whatever happens; the file is there or it is not.
            let quoted = "\"" + path.replacingOccurrences(of: "\"", with: "\\\"") + "\""
            try await ExternalTool.debugfs.run(["-R", "dump \(quoted) \(destination.path)", debugfsTarget])
        case .fat:
            do {
                try await ExternalTool.mcopy.run(
                    ["-n", "-o", "-i", mtoolsTarget, "::" + path, destination.path],
                    environment: Self.mtoolsEnvironment)
            } catch ToolError.failed {
                return false
            }
        case .unknown:
            return false
        }
        return FileManager.default.fileExists(atPath: destination.path)
    }
}

extension ExternalTool {
    /// Runs the tool with its standard output streamed into `file` (never into memory):
    /// for decompressing images of gigabytes.
    func run(_ arguments: [String], standardOutputTo file: URL) async throws {
        let executable = try resolved()
        let output = try FileDescriptor.open(
            FilePath(file.path), .writeOnly, options: [.create, .truncate], permissions: [.ownerReadWrite, .groupRead, .otherRead])
        let result: (status: TerminationStatus, standardError: String?)
        do {
            let run = try await Subprocess.run(
                .path(FilePath(executable)), arguments: Arguments(arguments),
                output: .fileDescriptor(output, closeAfterSpawningProcess: true), error: .string(limit: 1 << 20))
            result = (run.terminationStatus, run.standardError)
        } catch {
            try? output.close()
            throw error
        }
        guard case .exited(0) = result.status else {
            throw ToolError.failed(
                tool: name, arguments: arguments, status: "\(result.status)",
                standardError: result.standardError ?? "")
        }
    }
}
