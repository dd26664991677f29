import Foundation
import Testing

@testable import VMTest

/// .deb files built here by dpkg-deb, with each compressor it offers, read against
/// `dpkg-deb --field` as the oracle; damaged copies are refused as such.
@Suite struct DebianPackageFileTests {
    static func build(architecture: String, compressor: String, in folder: URL) async throws -> URL {
        let tree = folder.appendingPathComponent("tree-\(architecture)-\(compressor)")
        try FileManager.default.createDirectory(at: tree.appendingPathComponent("DEBIAN"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(
            at: tree.appendingPathComponent("usr/share/doc/vmtest-sample"), withIntermediateDirectories: true)
        try "hello\n".write(to: tree.appendingPathComponent("usr/share/doc/vmtest-sample/README"), atomically: true, encoding: .utf8)
        try """
        Package: vmtest-sample
        Version: 1:2.0-3
        Architecture: \(architecture)
        Maintainer: vmtest <vmtest@example.org>
        Depends: libc6 (>= 2.36), hello | cowsay
        Description: a package for vmtest's tests
         Its long description
         has two lines.

        """.write(to: tree.appendingPathComponent("DEBIAN/control"), atomically: true, encoding: .utf8)
        let deb = folder.appendingPathComponent("vmtest-sample_\(architecture)_\(compressor).deb")
        try await run("/usr/bin/dpkg-deb", ["--root-owner-group", "-Z\(compressor)", "--build", tree.path, deb.path])
        return deb
    }

    /// Runs a host tool through Subprocess, awaited: no cooperative thread is held.
    static func run(_ tool: String, _ arguments: [String]) async throws {
        let finished = try await ExternalTool(URL(fileURLWithPath: tool).lastPathComponent, debianPackage: "dpkg").finish(arguments)
        #expect(finished.succeeded, "\(tool) \(arguments): \(finished.standardError)")
    }

    static func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-debfile-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test(arguments: ["xz", "gzip", "zstd", "none"])
    func readsWhatDpkgDebWrites(compressor: String) async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let deb = try await Self.build(architecture: "armhf", compressor: compressor, in: folder)
        let read = try await DebianPackageFile.read(deb)
        #expect(read.package == "vmtest-sample")
        #expect(read.version == "1:2.0-3")
        #expect(read.architecture == "armhf")
        #expect(read.identifier == "vmtest-sample_1:2.0-3_armhf")
        #expect(read.control["Depends"] == "libc6 (>= 2.36), hello | cowsay")
        #expect(read.installs(on: "armhf") && !read.installs(on: "arm64"))
        let oracle = try await ExternalTool.dpkgDeb.run(["--field", deb.path])
        #expect(read.controlText == oracle.trimmingCharacters(in: .newlines))
    }

    @Test func architectureAllInstallsEverywhere() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let read = try await DebianPackageFile.read(try await Self.build(architecture: "all", compressor: "xz", in: folder))
        #expect(read.installs(on: "armhf") && read.installs(on: "arm64"))
    }

    @Test func damagedAndForeignFilesAreRefused() async throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let deb = try await Self.build(architecture: "armhf", compressor: "xz", in: folder)
        let bytes = try Data(contentsOf: deb)

        let truncated = folder.appendingPathComponent("truncated.deb")
        try bytes.prefix(bytes.count - 40).write(to: truncated)
        await expectError(truncated, contains: "truncated")

        let garbledControl = folder.appendingPathComponent("garbled.deb")
        var garbled = bytes
        // The control member starts after the magic (8), debian-binary's header (60) and body (4), and its own header (60).
        for index in 132..<172 { garbled[index] = 0x55 }
        try garbled.write(to: garbledControl)
        await expectError(garbledControl, contains: "cannot be unpacked")

        let text = folder.appendingPathComponent("notes.deb")
        try "not a package\n".write(to: text, atomically: true, encoding: .utf8)
        await expectError(text, contains: "is not a Debian package")

        let ar = folder.appendingPathComponent("plain.a")
        try await Self.run("/usr/bin/ar", ["rc", ar.path, deb.path])
        await expectError(ar, contains: "first member is not debian-binary")
    }

    func expectError(_ url: URL, contains text: String) async {
        do {
            let read = try await DebianPackageFile.read(url)
            Issue.record("\(url.lastPathComponent) was read: \(read.identifier)")
        } catch let error as DebianPackageError {
            #expect(error.description.contains(text), "\(error)")
            #expect(error.file == url.path)
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}
