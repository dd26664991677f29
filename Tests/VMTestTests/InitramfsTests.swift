import Foundation
import Testing

@testable import VMTest

/// A minimal newc reader, independent of the writer, to check what the writer produced.
private struct NewcEntry: Equatable {
    var name: String
    var inode: UInt32
    var mode: UInt32
    var uid: UInt32
    var gid: UInt32
    var nlink: UInt32
    var rdevMajor: UInt32
    var rdevMinor: UInt32
    var body: [UInt8]
}

private func parseNewc(_ data: Data) throws -> [NewcEntry] {
    let bytes = [UInt8](data)
    var offset = 0
    var entries: [NewcEntry] = []
    func field(_ index: Int) throws -> UInt32 {
        let start = offset + 6 + index * 8
        let text = String(decoding: bytes[start..<start + 8], as: UTF8.self)
        guard let value = UInt32(text, radix: 16) else { throw CocoaError(.fileReadCorruptFile) }
        return value
    }
    while true {
        #expect(offset % 4 == 0, "every header starts 4-byte aligned")
        guard String(decoding: bytes[offset..<offset + 6], as: UTF8.self) == "070701" else {
            throw CocoaError(.fileReadCorruptFile)
        }
        let nameSize = Int(try field(11))
        let fileSize = Int(try field(6))
        let nameStart = offset + 110
        #expect(bytes[nameStart + nameSize - 1] == 0, "names are NUL-terminated")
        let name = String(decoding: bytes[nameStart..<nameStart + nameSize - 1], as: UTF8.self)
        var bodyStart = nameStart + nameSize
        bodyStart += (4 - bodyStart % 4) % 4
        let entry = NewcEntry(
            name: name, inode: try field(0), mode: try field(1), uid: try field(2), gid: try field(3),
            nlink: try field(4), rdevMajor: try field(9), rdevMinor: try field(10),
            body: Array(bytes[bodyStart..<bodyStart + fileSize])
        )
        offset = bodyStart + fileSize
        offset += (4 - offset % 4) % 4
        if name == "TRAILER!!!" { break }
        entries.append(entry)
    }
    #expect(offset == bytes.count, "nothing after the trailer")
    return entries
}

@Suite("newc cpio writer")
struct CPIOArchiveTests {
    @Test func encodesHeaderFieldsExactly() throws {
        var archive = CPIOArchive()
        try archive.addFile("init", contents: Data("#!/bin/sh\n".utf8), permissions: 0o755)
        let bytes = archive.encoded()
        let header = String(decoding: bytes.prefix(110), as: UTF8.self)
        // magic, ino 1, mode 0100755, uid 0, gid 0, nlink 1, mtime 0, size 10, dev 0/0,
        // rdev 0/0, namesize 5 ("init\0"), check 0
        #expect(
            header == "070701" + "00000001" + "000081ED" + "00000000" + "00000000" + "00000001"
                + "00000000" + "0000000A" + "00000000" + "00000000" + "00000000" + "00000000" + "00000005" + "00000000")
        // 110 + 5 = 115 -> padded to 116, then the body
        #expect(bytes[110..<115] == Data("init\0".utf8))
        #expect(bytes[115] == 0)
        #expect(bytes[116..<126] == Data("#!/bin/sh\n".utf8))
    }

    @Test func roundTripsEveryKindOfEntry() throws {
        var archive = CPIOArchive()
        try archive.addDirectory("/dev/")
        try archive.addCharacterDevice("dev/console", major: 5, minor: 1)
        try archive.addFile("bin/busybox", contents: Data([0x7f, 0x45, 0x4c, 0x46, 1, 2, 3]), permissions: 0o755)
        try archive.addSymlink("bin/sh", target: "busybox")
        let entries = try parseNewc(archive.encoded())
        #expect(entries.map(\.name) == ["dev", "dev/console", "bin/busybox", "bin/sh"])
        #expect(entries[0].mode == 0o040755)
        #expect(entries[0].nlink == 2)
        #expect(entries[1].mode == 0o020600)
        #expect(entries[1].rdevMajor == 5 && entries[1].rdevMinor == 1)
        #expect(entries[2].mode == 0o100755)
        #expect(entries[2].body == [0x7f, 0x45, 0x4c, 0x46, 1, 2, 3])
        #expect(entries[3].mode == 0o120777)
        #expect(entries[3].body == Array("busybox".utf8))
        #expect(entries.allSatisfy { $0.uid == 0 && $0.gid == 0 })
        #expect(Set(entries.map(\.inode)).count == entries.count, "inodes are distinct (no accidental hard links)")
    }

    @Test func isReproducible() throws {
        func make() throws -> Data {
            var archive = CPIOArchive()
            try archive.addFile("etc/a", contents: Data("a".utf8))
            return archive.encoded()
        }
        #expect(try make() == make())
    }

    @Test func addsMissingParentDirectoriesOnce() throws {
        var archive = CPIOArchive()
        try archive.addDirectory("lib")
        try archive.addParentDirectories(of: "lib/modules/kernel/fs/ext4.ko")
        try archive.addParentDirectories(of: "lib/modules/kernel/lib/crc16.ko")
        #expect(
            archive.entries.map(\.path) == ["lib", "lib/modules", "lib/modules/kernel", "lib/modules/kernel/fs", "lib/modules/kernel/lib"])
    }

    @Test func rejectsDuplicatesAndEscapingPaths() {
        var archive = CPIOArchive()
        #expect(throws: CPIOArchive.ArchiveError.invalidPath("../etc/passwd")) {
            try archive.addFile("../etc/passwd", contents: Data())
        }
        #expect(throws: CPIOArchive.ArchiveError.invalidPath("")) { try archive.addDirectory("/") }
        #expect(throws: Never.self) { try archive.addDirectory("etc") }
        #expect(throws: CPIOArchive.ArchiveError.duplicatePath("etc")) { try archive.addDirectory("/etc/") }
    }

    @Test func hostCpioReadsTheArchive() async throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/cpio") else { return }
        var archive = CPIOArchive()
        try archive.addDirectory("bin")
        try archive.addFile("bin/hello", contents: Data("hello\n".utf8), permissions: 0o750)
        try archive.addSymlink("bin/link", target: "hello")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cpio-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("a.cpio")
        try archive.encoded().write(to: file)
        let listing = try await ExternalTool("cpio", debianPackage: "cpio").run(["-i", "-t", "-v", "-F", file.path])
        let lines = listing.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
        #expect(lines.count == 3)
        #expect(lines.map { String($0[0]) } == ["drwxr-xr-x", "-rwxr-x---", "lrwxrwxrwx"])
        #expect(lines.map { String($0.last!) } == ["bin", "bin/hello", "hello"])
    }
}

@Suite("kernel module dependency resolution")
struct KernelModuleIndexTests {
    // Excerpts of the real tables depmod wrote for linux-image-6.1.0-50-armmp-lpae.
    static let dep = """
        kernel/fs/ext4/ext4.ko: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
        kernel/fs/jbd2/jbd2.ko:
        kernel/fs/mbcache.ko:
        kernel/lib/crc16.ko:
        kernel/crypto/crc32c_generic.ko:
        kernel/arch/arm/crypto/crc32-arm-ce.ko:
        kernel/drivers/virtio/virtio_mmio.ko:
        kernel/drivers/block/virtio_blk.ko:
        kernel/drivers/virtio/virtio_pci_modern_dev.ko:
        kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
        kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko
        kernel/drivers/char/hw_random/rng-core.ko:
        kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/char/hw_random/rng-core.ko

        """
    static let softdep = """
        # Soft dependencies extracted from modules themselves.
        softdep ext4 pre: crypto-crc32c
        softdep jbd2 pre: crypto-crc32c
        softdep libcrc32c pre: crc32c

        """
    static let alias = """
        # Aliases extracted from modules themselves.
        alias crypto-crc32c crc32_arm_ce
        alias crypto-crc32c crc32c_generic
        alias crc32c crc32c_generic
        alias crypto-crc32c-generic crc32c_generic
        alias virtio:d00000002v* virtio_blk
        alias fs-ext4 ext4
        alias crypto-sha256 sha256_generic

        """
    static let builtin = """
        kernel/drivers/virtio/virtio.ko
        kernel/drivers/virtio/virtio_ring.ko
        kernel/crypto/sha256_generic.ko

        """

    let index = KernelModuleIndex(dep: dep, softdep: softdep, alias: alias, builtin: builtin)

    @Test func ext4PullsItsDependenciesAndSoftdepFirst() throws {
        let order = try index.loadOrder(for: ["ext4"])
        #expect(
            Set(order) == [
                "kernel/crypto/crc32c_generic.ko", "kernel/lib/crc16.ko", "kernel/fs/mbcache.ko",
                "kernel/fs/jbd2/jbd2.ko", "kernel/fs/ext4/ext4.ko",
            ])
        #expect(order.last == "kernel/fs/ext4/ext4.ko")
        #expect(
            order.firstIndex(of: "kernel/crypto/crc32c_generic.ko")! < order.firstIndex(of: "kernel/fs/jbd2/jbd2.ko")!,
            "jbd2's own softdep on crc32c is honoured")
    }

    @Test func everyModuleComesAfterItsDependenciesAndOnlyOnce() throws {
        let order = try index.loadOrder(for: ["virtio_mmio", "virtio_pci", "virtio_blk", "ext4", "jbd2", "virtio-rng"])
        #expect(order.count == Set(order).count)
        for (position, path) in order.enumerated() {
            let name = KernelModuleIndex.moduleName(ofPath: path)
            for dependency in index.hardDependencies[name] ?? [] {
                let dependencyPosition = try #require(order.firstIndex(of: dependency))
                #expect(dependencyPosition < position, "\(dependency) before \(path)")
            }
        }
        #expect(order.contains("kernel/drivers/char/hw_random/rng-core.ko"), "dashes and underscores are the same name")
    }

    @Test func anAliasOfSeveralImplementationsTakesTheGenericOne() throws {
        #expect(index.resolve("crypto-crc32c") == ["crc32c_generic"])
        #expect(
            !(try index.loadOrder(for: ["ext4"])).contains("kernel/arch/arm/crypto/crc32-arm-ce.ko"),
            "crc32-arm-ce needs ARMv8 crypto extensions a Cortex-A15 lacks")
        let other = KernelModuleIndex(dep: "kernel/a.ko:\nkernel/b.ko:\n", alias: "alias thing a\nalias thing b\n")
        #expect(other.resolve("thing") == ["a", "b"])
    }

    @Test func aliasesAndWildcardsResolve() {
        #expect(index.resolve("fs-ext4") == ["ext4"])
        #expect(index.resolve("virtio:d00000002v00001AF4") == ["virtio_blk"])
        #expect(index.resolve("virtio-rng") == ["virtio_rng"])
    }

    @Test func builtinModulesNeedNothingAndUnknownOnesFail() throws {
        #expect(try index.loadOrder(for: ["virtio", "virtio_ring", "crypto-sha256"]).isEmpty)
        #expect(throws: KernelModuleIndex.ResolutionError.unknownModule("no_such_module")) {
            try index.loadOrder(for: ["no_such_module"])
        }
    }

    @Test func unknownSoftDependenciesAreSkipped() throws {
        let index = KernelModuleIndex(dep: "kernel/a.ko:\n", softdep: "softdep a pre: missing-alias post: also-missing\n")
        #expect(try index.loadOrder(for: ["a"]) == ["kernel/a.ko"])
    }

    @Test func postSoftDependenciesComeAfter() throws {
        let index = KernelModuleIndex(dep: "kernel/a.ko:\nkernel/b.ko:\n", softdep: "softdep a post: b\n")
        #expect(try index.loadOrder(for: ["a"]) == ["kernel/a.ko", "kernel/b.ko"])
    }

    @Test func cyclesAreReported() {
        let index = KernelModuleIndex(dep: "kernel/a.ko: kernel/b.ko\nkernel/b.ko: kernel/a.ko\n")
        #expect(throws: KernelModuleIndex.ResolutionError.dependencyCycle(["a", "b", "a"])) {
            try index.loadOrder(for: ["a"])
        }
    }

    @Test func moduleNamesFromPaths() {
        #expect(KernelModuleIndex.moduleName(ofPath: "kernel/fs/ext4/ext4.ko") == "ext4")
        #expect(KernelModuleIndex.moduleName(ofPath: "kernel/drivers/char/hw_random/virtio-rng.ko.xz") == "virtio_rng")
    }
}

@Suite("minimal initramfs")
struct MinimalInitramfsTests {
    /// The compat kernel kit's module tree: after the initramfs's own entries, with its
    /// directories, from the files of a folder (sorted, filtered).
    @Test func additionalEntriesComeLastWithTheirDirectories() throws {
        let fm = FileManager.default
        let directory = fm.temporaryDirectory.appendingPathComponent("initramfs-extra-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: directory) }
        for path in ["modules.dep", "kernel/fs/isofs/isofs.ko", "kernel/fs/ext4/ext4.ko"] {
            let url = directory.appendingPathComponent("tree").appendingPathComponent(path)
            try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(path.utf8).write(to: url)
        }
        try Data(KernelModuleIndexTests.dep.utf8).write(to: directory.appendingPathComponent("modules.dep"))
        let extra = try CompatKernelBuilder.entries(of: directory.appendingPathComponent("tree"), under: "lib/modules/6.1.0-50-arm64") {
            $0 != "kernel/fs/ext4/ext4.ko"
        }
        #expect(extra.map(\.path) == ["lib/modules/6.1.0-50-arm64/kernel/fs/isofs/isofs.ko", "lib/modules/6.1.0-50-arm64/modules.dep"])
        let initramfs = MinimalInitramfs(
            busybox: Data("busybox".utf8), initScript: Data("#!/bin/busybox sh\n".utf8),
            modulesDirectory: directory, modules: [], additionalEntries: extra)
        let entries = try parseNewc(initramfs.archive().archive)
        let names = entries.map(\.name)
        let order = try #require(names.firstIndex(of: "etc/modules-load.order"))
        let isofs = try #require(names.firstIndex(of: "lib/modules/6.1.0-50-arm64/kernel/fs/isofs/isofs.ko"))
        #expect(order < isofs)
        #expect(entries[isofs].body == Array("kernel/fs/isofs/isofs.ko".utf8))
        #expect(entries[isofs].mode == 0o100644)
        for parent in ["lib/modules/6.1.0-50-arm64", "lib/modules/6.1.0-50-arm64/kernel/fs/isofs"] {
            let position = try #require(names.firstIndex(of: parent))
            #expect(position < isofs && entries[position].mode == 0o040755)
        }
        #expect(!names.contains("lib/modules/6.1.0-50-arm64/kernel/fs/ext4/ext4.ko"))
    }

    @Test func containsInitBusyboxConsoleAndModulesInLoadOrder() throws {
        let fm = FileManager.default
        let directory = fm.temporaryDirectory.appendingPathComponent("initramfs-test-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: directory) }
        let modules = [
            "kernel/lib/crc16.ko", "kernel/fs/mbcache.ko", "kernel/fs/jbd2/jbd2.ko", "kernel/fs/ext4/ext4.ko",
            "kernel/crypto/crc32c_generic.ko", "kernel/drivers/block/virtio_blk.ko", "kernel/drivers/virtio/virtio_mmio.ko",
        ]
        for path in modules {
            let url = directory.appendingPathComponent(path)
            try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(path.utf8).write(to: url)
        }
        try Data(KernelModuleIndexTests.dep.utf8).write(to: directory.appendingPathComponent("modules.dep"))
        try Data(KernelModuleIndexTests.softdep.utf8).write(to: directory.appendingPathComponent("modules.softdep"))
        try Data(KernelModuleIndexTests.alias.utf8).write(to: directory.appendingPathComponent("modules.alias"))
        try Data(KernelModuleIndexTests.builtin.utf8).write(to: directory.appendingPathComponent("modules.builtin"))

        let initramfs = MinimalInitramfs(
            busybox: Data("busybox-binary".utf8), initScript: Data("#!/bin/busybox sh\n".utf8),
            modulesDirectory: directory, modules: ["virtio_mmio", "virtio_blk", "ext4"]
        )
        let (archive, order) = try initramfs.archive()
        let entries = try parseNewc(archive)
        let byName = Dictionary(entries.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })

        #expect(order.first == "kernel/drivers/virtio/virtio_mmio.ko")
        #expect(order.last == "kernel/fs/ext4/ext4.ko")
        #expect(order.count == 7)
        let listed = String(decoding: try #require(byName["etc/modules-load.order"]).body, as: UTF8.self)
        #expect(listed == order.joined(separator: "\n") + "\n")
        for path in order {
            let entry = try #require(byName["lib/modules/" + path], "\(path) is in the archive")
            #expect(entry.body == Array(path.utf8), "the module's own bytes")
        }
        #expect(byName["init"]?.mode == 0o100755)
        #expect(byName["init"]?.body == Array("#!/bin/busybox sh\n".utf8))
        #expect(byName["bin/busybox"]?.mode == 0o100755)
        #expect(byName["dev/console"]?.mode == 0o020600)
        #expect(byName["dev/console"]?.rdevMajor == 5)
        #expect(byName["dev/console"]?.rdevMinor == 1)
        for directory in ["proc", "sys", "newroot", "lib/modules/kernel/fs/jbd2"] {
            #expect(byName[directory]?.mode == 0o040755, "\(directory) is a directory")
        }
        // Every entry's parent directory comes before it (the kernel creates files in order).
        var seen: Set<String> = []
        for entry in entries {
            let parent = (entry.name as NSString).deletingLastPathComponent
            #expect(parent.isEmpty || seen.contains(parent), "\(entry.name) after its directory")
            seen.insert(entry.name)
        }
    }
}

@Suite("Debian image builder pieces")
struct DebianImageBuilderTests {
    @Test func recognisesMirrorSyncFailures() {
        #expect(
            DebianImageBuilder.isMirrorSyncFailure(
                "E: Failed to fetch http://deb.debian.org/debian-security/dists/bookworm-security/main/binary-armhf/Packages.xz  File has unexpected size (123 != 456). Mirror sync in progress? [IP: 1.2.3.4 80]"
            ))
        #expect(DebianImageBuilder.isMirrorSyncFailure("E: Failed to fetch ... Hash Sum mismatch"))
        #expect(!DebianImageBuilder.isMirrorSyncFailure("E: Unable to locate package no-such-package"))
    }

    @Test func rejectsBadRecipes() {
        var recipe = DebianImageRecipe()
        recipe.diskSize = "4 GB"
        #expect(throws: DebianImageBuildError.self) { try DebianImageBuilder(recipe: recipe).validate() }
        recipe = DebianImageRecipe(packages: ["curl; rm -rf /"])
        #expect(throws: DebianImageBuildError.self) { try DebianImageBuilder(recipe: recipe).validate() }
        #expect(throws: Never.self) { try DebianImageBuilder(recipe: DebianImageRecipe(packages: ["libstdc++6"])).validate() }
    }

    @Test func mmdebstrapUsesOnlyTheSuiteAndMirrorGiven() {
        let builder = DebianImageBuilder(recipe: DebianImageRecipe(packages: ["strace"]))
        let arguments = builder.mmdebstrapArguments(root: URL(fileURLWithPath: "/r"), data: URL(fileURLWithPath: "/d"))
        #expect(arguments.suffix(3) == ["bookworm", "/r", "http://deb.debian.org/debian"])
        #expect(arguments.contains("--mode=root"))
        #expect(arguments.contains("--arch=armhf"))
        #expect(arguments.contains("--components=main"))
        let include = arguments.first { $0.hasPrefix("--include=") } ?? ""
        #expect(include.hasSuffix(",strace"))
        #expect(!include.contains("linux-image"), "the host's dpkg unpacks the kernel, not mmdebstrap's emulated one")
        #expect(include.contains(",initramfs-tools,linux-base,u-boot-menu,"), "what a kernel update in the guest needs")
        #expect(DebianImageBuilder.divertedPaths.contains("/usr/sbin/update-initramfs"), "the first initramfs is vmtest's own")
        let hooks = arguments.filter { $0.hasPrefix("--extract-hook=") || $0.hasPrefix("--essential-hook=") }
        #expect(
            hooks == [
                "--extract-hook=/d/hooks/native-dpkg-deb.sh", "--essential-hook=/d/hooks/native-dpkg-deb.sh",
                "--essential-hook=/d/hooks/essential-divert.sh",
            ])
        #expect(
            arguments.firstIndex(of: "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr")!
                < arguments.firstIndex(of: "--essential-hook=/d/hooks/native-dpkg-deb.sh")!,
            "the native tools' loader is put back after usr-is-merged's postinst removed its /lib64")
    }

    @Test func undoesOnlyItsOwnDiversions() throws {
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("divert-test-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: root) }
        for directory in ["var/lib/dpkg", "usr/bin", "bin"] {
            try fm.createDirectory(at: root.appendingPathComponent(directory), withIntermediateDirectories: true)
        }
        try Data("/bin/sh\n/bin/sh.distrib\ndash\n/usr/bin/py3compile\n/usr/bin/py3compile.distrib\n:\n".utf8)
            .write(to: root.appendingPathComponent("var/lib/dpkg/diversions"))
        try Data("no-op".utf8).write(to: root.appendingPathComponent("usr/bin/py3compile"))
        try Data("real".utf8).write(to: root.appendingPathComponent("usr/bin/py3compile.distrib"))
        try DebianImageBuilder(recipe: DebianImageRecipe()).undoDiversions(of: DebianImageBuilder.divertedPaths, root: root)
        #expect(
            try String(contentsOf: root.appendingPathComponent("var/lib/dpkg/diversions"), encoding: .utf8)
                == "/bin/sh\n/bin/sh.distrib\ndash\n")
        #expect(try String(contentsOf: root.appendingPathComponent("usr/bin/py3compile"), encoding: .utf8) == "real")
        #expect(!fm.fileExists(atPath: root.appendingPathComponent("usr/bin/py3compile.distrib").path))
    }

    @Test func removesWhatTheNativeHookCopiedInAndNothingElse() throws {
        let fm = FileManager.default
        let scratch = fm.temporaryDirectory.appendingPathComponent("native-test-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: scratch) }
        let root = scratch.appendingPathComponent("root")
        for directory in ["usr/lib64", "usr/lib/x86_64-linux-gnu", "usr/lib/arm-linux-gnueabihf", "opt/shared"] {
            try fm.createDirectory(at: root.appendingPathComponent(directory), withIntermediateDirectories: true)
        }
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("lib").path, withDestinationPath: "usr/lib")
        try fm.createSymbolicLink(atPath: root.appendingPathComponent("lib64").path, withDestinationPath: "usr/lib64")
        for file in [
            "usr/lib64/ld-linux-x86-64.so.2", "usr/lib/x86_64-linux-gnu/libc.so.6", "usr/lib/arm-linux-gnueabihf/libc.so.6",
            "opt/shared/guest",
        ] {
            try Data("elf".utf8).write(to: root.appendingPathComponent(file))
        }
        // As the hook lists them, its essential pass repeating what usr-is-merged removed.
        let list = scratch.appendingPathComponent("native-files")
        try Data(
            """
            /lib/x86_64-linux-gnu
            /lib/x86_64-linux-gnu/libc.so.6
            /usr/lib64
            /lib64
            /lib64/ld-linux-x86-64.so.2
            /opt/shared
            /usr/lib64
            /lib64
            /lib64/ld-linux-x86-64.so.2

            """.utf8
        ).write(to: list)
        try DebianImageBuilder.removeNativeFiles(listedIn: list, root: root)
        for gone in ["lib64", "usr/lib64", "usr/lib/x86_64-linux-gnu"] {
            #expect((try? fm.attributesOfItem(atPath: root.appendingPathComponent(gone).path)) == nil, "\(gone) is left")
        }
        #expect(fm.fileExists(atPath: root.appendingPathComponent("usr/lib/arm-linux-gnueabihf/libc.so.6").path))
        #expect(fm.fileExists(atPath: root.appendingPathComponent("opt/shared/guest").path), "a folder with the guest's files stays")
        #expect(try fm.destinationOfSymbolicLink(atPath: root.appendingPathComponent("lib").path) == "usr/lib")
        #expect(!fm.fileExists(atPath: list.path))
    }

    /// The hook against a merged-/usr root holding stand-ins for the guest's dpkg helpers:
    /// the host's tools run in the root, survive usr-is-merged removing the /lib64 link, and
    /// the builder's clean-up leaves the root as it was.
    @Test func theNativeDpkgHookRunsTheHostsToolsAndLeavesTheRootAsItWas() async throws {
        let fm = FileManager.default
        let scratch = fm.temporaryDirectory.appendingPathComponent("native-hook-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: scratch) }
        let root = scratch.appendingPathComponent("root")
        for directory in ["usr/bin", "usr/lib/arm-linux-gnueabihf", "var/lib/dpkg"] {
            try fm.createDirectory(at: root.appendingPathComponent(directory), withIntermediateDirectories: true)
        }
        for link in ["bin", "lib"] {
            try fm.createSymbolicLink(atPath: root.appendingPathComponent(link).path, withDestinationPath: "usr/\(link)")
        }
        for tool in DebianImageBuilder.nativeTools {
            try Data("the guest's \(tool)".utf8).write(to: root.appendingPathComponent(String(tool.dropFirst())))
        }
        try Data("/bin/sh\n/bin/sh.distrib\ndash\n".utf8).write(to: root.appendingPathComponent("var/lib/dpkg/diversions"))
        let before = try Self.tree(root)

        let hostArchitecture = try await ExternalTool.dpkg.run(["--print-architecture"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let list = scratch.appendingPathComponent("native-files")
        func hook(_ phase: String) async throws {
            try await ExternalTool.env.run(
                [try DebianImageBuilder.locateDataDirectory().appendingPathComponent("hooks/native-dpkg-deb.sh").path, root.path],
                environment: [
                    "MMDEBSTRAP_HOOK": phase, "VMTEST_ARCHITECTURE": hostArchitecture == "armhf" ? "arm64" : "armhf",
                    "VMTEST_NATIVE_TOOLS": DebianImageBuilder.nativeTools.joined(separator: " "), "VMTEST_NATIVE_LIST": list.path,
                ])
        }
        func toolsRunInTheRoot() async throws -> String {
            try await ExternalTool.chroot.run([root.path, "/usr/bin/dpkg-deb", "--version"])
                + (try await ExternalTool.chroot.run([root.path, "/usr/bin/dpkg-split", "--version"]))
        }

        try await hook("extract")
        #expect(try await toolsRunInTheRoot().contains("Debian"))
        for tool in DebianImageBuilder.nativeTools {
            #expect(
                try Data(contentsOf: root.appendingPathComponent(String(tool.dropFirst()) + ".distrib")) == Data("the guest's \(tool)".utf8)
            )
        }
        // usr-is-merged's postinst removes the links it finds for other architectures.
        let links = try fm.contentsOfDirectory(atPath: root.path).filter {
            !["bin", "lib"].contains($0) && (try? fm.destinationOfSymbolicLink(atPath: root.appendingPathComponent($0).path)) != nil
        }
        for link in links { try fm.removeItem(at: root.appendingPathComponent(link)) }
        try await hook("essential")
        #expect(try await toolsRunInTheRoot().contains("Debian"), "the essential pass puts back \(links)")

        try DebianImageBuilder(recipe: DebianImageRecipe()).undoDiversions(of: DebianImageBuilder.nativeTools, root: root)
        try DebianImageBuilder.removeNativeFiles(listedIn: list, root: root)
        #expect(try Self.tree(root) == before)
    }

    /// Every path under `root` with its symlink target or file contents ("" for a folder).
    static func tree(_ root: URL) throws -> [String: String] {
        var found: [String: String] = [:]
        for path in try FileManager.default.subpathsOfDirectory(atPath: root.path) {
            let url = root.appendingPathComponent(path)
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: url.path) {
                found[path] = "-> " + target
            } else {
                found[path] = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
            }
        }
        return found
    }

    @Test func locksRootPasswordOnly() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("shadow-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data("root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n".utf8).write(to: file)
        try DebianImageBuilder.lockRootPassword(shadow: file)
        #expect(try String(contentsOf: file, encoding: .utf8) == "root:!*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n")
    }

    @Test func completesLocaleGenLikeTheLocalesPostinst() throws {
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("locale-test-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: root) }
        try fm.createDirectory(at: root.appendingPathComponent("etc"), withIntermediateDirectories: true)
        try fm.createDirectory(at: root.appendingPathComponent("usr/share/i18n"), withIntermediateDirectories: true)
        // What the postinst left with the stub SUPPORTED (header from locales.config).
        try Data("# header\n\n# C.UTF-8 UTF-8\n".utf8).write(to: root.appendingPathComponent("etc/locale.gen"))
        try Data("zu_ZA.UTF-8 UTF-8\nC.UTF-8 UTF-8\naa_DJ ISO-8859-1  \n# comment\nen_US.UTF-8 UTF-8\nzu_ZA.UTF-8 UTF-8\n".utf8)
            .write(to: root.appendingPathComponent("usr/share/i18n/SUPPORTED"))
        try DebianImageBuilder.completeLocaleGen(root: root)
        #expect(
            try String(contentsOf: root.appendingPathComponent("etc/locale.gen"), encoding: .utf8)
                == "# header\n\n# C.UTF-8 UTF-8\n# aa_DJ ISO-8859-1\n# en_US.UTF-8 UTF-8\n# zu_ZA.UTF-8 UTF-8\n")
    }
}
