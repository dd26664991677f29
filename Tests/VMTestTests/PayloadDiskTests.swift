import Foundation
import Testing

@testable import VMTest

/// The payload disk, written as a run writes it and unpacked by the guest's own snippet,
/// run by dash against a stand-in /sys/block and /dev (a guest's tar, or only GNU cpio).
@Suite struct PayloadDiskTests {
    /// A guest's disks under `folder`: vda with an empty serial, vdb the payload slot
    /// holding `disk`, vdc without a serial at all.
    static func guest(in folder: URL, disk: Data) throws {
        let fileManager = FileManager.default
        for name in ["vda", "vdb", "vdc"] {
            try fileManager.createDirectory(at: folder.appendingPathComponent("sys/block/\(name)"), withIntermediateDirectories: true)
        }
        // As the kernel shows them: no newline after a serial number.
        try Data().write(to: folder.appendingPathComponent("sys/block/vda/serial"))
        try Data(PayloadDisk.serial.utf8).write(to: folder.appendingPathComponent("sys/block/vdb/serial"))
        try fileManager.createDirectory(at: folder.appendingPathComponent("dev"), withIntermediateDirectories: true)
        try fileManager.createDirectory(at: folder.appendingPathComponent("run-folder"), withIntermediateDirectories: true)
        // The slot is larger than the archive; the rest of it is zeros.
        try (disk + Data(count: 1 << 20)).write(to: folder.appendingPathComponent("dev/vdb"))
    }

    /// Runs `command` with the guest's /sys/block and /dev moved under `folder`.
    static func run(_ command: String, in folder: URL, path: String? = nil) async throws -> FinishedTool {
        let moved = command.replacingOccurrences(of: "/sys/block/", with: "\(folder.path)/sys/block/")
            .replacingOccurrences(of: "payload=/dev/", with: "payload=\(folder.path)/dev/")
        return try await GuestSetUpTests.dash.finish(["-c", "set -e\n" + moved], environment: path.map { ["PATH": $0] } ?? [:])
    }

    static func payload(runID: String, in folder: URL) async throws -> Data {
        let content = folder.appendingPathComponent("content")
        try FileManager.default.createDirectory(at: content.appendingPathComponent("tests"), withIntermediateDirectories: true)
        try Data("rpm".utf8).write(to: content.appendingPathComponent("vmtest-hello-1.0-1.armv7hl.rpm"))
        let test = content.appendingPathComponent("tests/check.sh")
        try Data("#!/bin/sh\necho ok\n".utf8).write(to: test)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: test.path)
        let image = folder.appendingPathComponent("payload.tar")
        try await PayloadDisk.write(from: content, runID: runID, to: image)
        return try Data(contentsOf: image)
    }

    /// With tar, and with only cpio on the PATH (as on a CentOS 7 image without tar).
    @Test(arguments: ["tar", "cpio"]) func theRunsFilesArriveWithTheirModes(unpacker: String) async throws {
        let folder = try GuestSetUpTests.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        try Self.guest(in: folder, disk: try await Self.payload(runID: "R1", in: folder))
        var path: String?
        if unpacker == "cpio" {
            let bin = folder.appendingPathComponent("bin")
            try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
            let cpio = try #require(ExternalTool("cpio", debianPackage: "cpio").path)
            try FileManager.default.createSymbolicLink(atPath: bin.appendingPathComponent("cpio").path, withDestinationPath: cpio)
            path = bin.path
        }
        let unpacked = try await Self.run(
            PayloadDisk.unpackCommand(into: folder.appendingPathComponent("run-folder").path, runID: "R1"), in: folder, path: path)
        #expect(unpacked.succeeded, "\(unpacked.standardError)")
        let run = folder.appendingPathComponent("run-folder")
        #expect(try String(contentsOf: run.appendingPathComponent("vmtest-hello-1.0-1.armv7hl.rpm"), encoding: .utf8) == "rpm")
        let mode = try FileManager.default.attributesOfItem(atPath: run.appendingPathComponent("tests/check.sh").path)[.posixPermissions]
        #expect(mode as? Int == 0o755)
    }

    @Test func aSlotOfZerosAnotherRunsPayloadOrNoPayloadDiskFailsSayingSo() async throws {
        let folder = try GuestSetUpTests.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let into = folder.appendingPathComponent("run-folder").path

        try Self.guest(in: folder, disk: Data())
        let zeros = try await Self.run(PayloadDisk.unpackCommand(into: into, runID: "R1"), in: folder)
        #expect(!zeros.succeeded && zeros.standardError.contains("held no payload of run R1"), "\(zeros.standardError)")

        try Self.guest(in: folder, disk: try await Self.payload(runID: "R0", in: folder))
        let other = try await Self.run(PayloadDisk.unpackCommand(into: into, runID: "R1"), in: folder)
        #expect(!other.succeeded && other.standardError.contains("held no payload of run R1"), "\(other.standardError)")

        try FileManager.default.removeItem(at: folder.appendingPathComponent("sys/block/vdb/serial"))
        let missing = try await Self.run(PayloadDisk.unpackCommand(into: into, runID: "R1"), in: folder)
        #expect(!missing.succeeded && missing.standardError.contains("no disk with serial \(PayloadDisk.serial)"))
    }
}
