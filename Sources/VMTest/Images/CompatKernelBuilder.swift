import Foundation

/// Assembles a ``CompatKernel`` kit from downloaded packages, natively on the host: the
/// kernel package is unpacked with `dpkg-deb -x`, depmod runs on the host, and the
/// initramfs is a ``MinimalInitramfs`` with the compat `/init` and, as additional entries,
/// the running system's module tree (`lib/modules/RELEASE`, with depmod's tables). The
/// modules the initramfs loads to mount root are in the archive once, under
/// `lib/modules/kernel/...`; `/init` merges them into the copied tree.
struct CompatKernelBuilder: Sendable {
    var kernelDeb: URL
    var busyboxDeb: URL
    var initScript: Data
    var moduleSet: CompatModuleSet

    struct Output: Sendable {
        var kernelRelease: String
        var rootLoadOrder: [String]
        var runtimeOnly: [String]
    }

    /// Writes `vmlinuz` and `initrd.img` into `directory`, using `directory/unpack.tmp`
    /// for scratch (removed, also on failure).
    func build(into directory: URL, progress: @Sendable (String) -> Void) async throws -> Output {
        let fm = FileManager.default
        let staging = directory.appendingPathComponent("unpack.tmp")
        defer { try? fm.removeItem(at: staging) }
        let kernel = staging.appendingPathComponent("kernel")
        let busybox = staging.appendingPathComponent("busybox")
        let tree = staging.appendingPathComponent("tree")
        for url in [kernel, busybox, tree] { try fm.createDirectory(at: url, withIntermediateDirectories: true) }

        progress("unpacking \(kernelDeb.lastPathComponent)")
        try await ExternalTool.dpkgDeb.run(["-x", kernelDeb.path, kernel.path])
        try await ExternalTool.dpkgDeb.run(["-x", busyboxDeb.path, busybox.path])
        let moduleRoot = kernel.appendingPathComponent("lib/modules")
        guard let release = try? fm.contentsOfDirectory(atPath: moduleRoot.path).sorted().first else {
            throw CompatKernelError.kernelMissing(package: kernelDeb.lastPathComponent, detail: "no lib/modules")
        }
        let vmlinuz = kernel.appendingPathComponent("boot/vmlinuz-\(release)")
        guard fm.fileExists(atPath: vmlinuz.path) else {
            throw CompatKernelError.kernelMissing(package: kernelDeb.lastPathComponent, detail: "no boot/vmlinuz-\(release)")
        }

        // The package ships no modules.dep: depmod the whole tree once to know what needs what.
        progress("depmod \(release) (native)")
        try await ExternalTool.depmod.run(["-a", "-b", kernel.path, release])
        let full = moduleRoot.appendingPathComponent(release)
        let (rootLoadOrder, runtimeOnly) = try moduleSet.select(from: KernelModuleIndex(modulesDirectory: full))

        // The carried subset, with depmod's tables for exactly it (udev resolves device
        // aliases with modules.alias, modprobe dependencies with modules.dep).
        let carried = tree.appendingPathComponent("lib/modules/\(release)")
        for path in rootLoadOrder + runtimeOnly {
            let target = carried.appendingPathComponent(path)
            try fm.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try fm.copyItem(at: full.appendingPathComponent(path), to: target)
        }
        for table in ["modules.builtin", "modules.builtin.modinfo", "modules.order"]
        where fm.fileExists(atPath: full.appendingPathComponent(table).path) {
            try fm.copyItem(at: full.appendingPathComponent(table), to: carried.appendingPathComponent(table))
        }
        try await ExternalTool.depmod.run(["-a", "-b", tree.path, release])

        let rootSet = Set(rootLoadOrder)
        let entries = try Self.entries(of: carried, under: "lib/modules/\(release)") { !rootSet.contains($0) }
        let initramfs = MinimalInitramfs(
            busybox: try Data(contentsOf: busybox.appendingPathComponent("bin/busybox")),
            initScript: initScript,
            modulesDirectory: carried,
            modules: moduleSet.rootModules,
            additionalEntries: entries)
        let cpio = staging.appendingPathComponent("initrd.cpio")
        try initramfs.archive().archive.write(to: cpio)
        progress("compressing the initramfs (zstd)")
        try await ExternalTool.zstd.run(["-q", "-19", "-f", cpio.path, "-o", directory.appendingPathComponent("initrd.img").path])
        try fm.copyItem(at: vmlinuz, to: directory.appendingPathComponent("vmlinuz"))
        return Output(kernelRelease: release, rootLoadOrder: rootLoadOrder, runtimeOnly: runtimeOnly)
    }

    /// cpio entries for the regular files under `directory` (sorted, so the archive is
    /// reproducible), at `prefix/RELATIVE`, for the relative paths `include` accepts.
    static func entries(of directory: URL, under prefix: String, include: (String) -> Bool) throws -> [CPIOArchive.Entry] {
        let base = directory.standardizedFileURL.path
        guard let enumerator = FileManager.default.enumerator(atPath: base) else { return [] }
        var relatives: [String] = []
        for case let relative as String in enumerator {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: base + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue,
                include(relative)
            else { continue }
            relatives.append(relative)
        }
        return try relatives.sorted().map { relative in
            CPIOArchive.Entry(
                path: prefix + "/" + relative, permissions: 0o644,
                kind: .file(try Data(contentsOf: URL(fileURLWithPath: base + "/" + relative))))
        }
    }
}
