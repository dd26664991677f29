import Foundation
import Testing

@testable import VMTest

/// The package that tells an image's rpm database what dpkg installed, made over a small
/// root with a real armhf C library (the cross toolchain's) and a shell.
@Suite struct DpkgProvidesTests {
    @Test func theImagesRpmDatabaseKnowsItsCommandsAndLibraries() async throws {
        let root = try DebianPackageFileTests.folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let libraries = root.appendingPathComponent("usr/lib/arm-linux-gnueabihf")
        for folder in [libraries, root.appendingPathComponent("usr/bin")] {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(
            at: URL(fileURLWithPath: "/usr/arm-linux-gnueabihf/lib/libc.so.6"), to: libraries.appendingPathComponent("libc.so.6"))
        // A linker script named like a library: not ELF, left out.
        try Data("GROUP ( libc.so.6 )\n".utf8).write(to: libraries.appendingPathComponent("libc.so"))
        try Data("#!/bin/dash\n".utf8).write(to: root.appendingPathComponent("usr/bin/sh"))
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("bin").path, withDestinationPath: "usr/bin")
        let scratch = root.appendingPathComponent("scratch")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)

        try await DpkgProvides(root: root).register(scratch: scratch)

        let provides = try await ExternalTool.rpm.run([
            "--root", root.path, "--dbpath", DpkgProvides.databasePath, "--query", "--provides", DpkgProvides.packageName,
        ]).split(separator: "\n").map(String.init)
        for expected in ["/bin/sh", "/usr/bin/sh", "libc.so.6", "libc.so.6(GLIBC_2.4)", "rtld(GNU_HASH)"] {
            #expect(provides.contains(expected), "\(expected) in \(provides.prefix(20))")
        }
        // What a real RPM with a scriptlet and a C program needs now resolves against it.
        let files = try await ExternalTool.rpm.run([
            "--root", root.path, "--dbpath", DpkgProvides.databasePath, "--query", "--whatprovides", "/bin/sh", "libc.so.6(GLIBC_2.34)",
        ])
        #expect(files.split(separator: "\n").allSatisfy { $0.hasPrefix(DpkgProvides.packageName) }, "\(files)")
    }
}
