import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Builds a Debian base image for a foreign architecture (armhf) quickly.
///
/// Only the work that must run guest code runs under qemu-user emulation: mmdebstrap
/// installing the packages (dpkg and maintainer scripts). Everything else happens natively
/// on the host:
/// - dpkg-deb and dpkg-split, which dpkg runs for every package it unpacks, are the host's
///   own binaries (see `hooks/native-dpkg-deb.sh`);
/// - the kernel package is unpacked by the host's dpkg (``DebianKernelInstall``), so the
///   guest's dpkg knows it and its apt upgrades it; only its maintainer scripts run emulated;
/// - the initramfs (busybox, the modules to mount root, `/init`) is assembled in Swift
///   (``MinimalInitramfs``); the guest's initramfs-tools makes the next kernel's;
/// - `update-ca-certificates`, `py3compile`/`py3clean` and `locale-gen` are no-ops during
///   the install (see `hooks/essential-divert.sh`) and their work is done natively afterwards;
/// - the disk is made with `mkfs.ext4 -d` (no loop mount) behind an MBR written in Swift
///   (``BootDisk``), and `qemu-img convert`.
public struct DebianImageBuilder: Sendable {
    public var recipe: DebianImageRecipe
    /// Directory holding `init`, `hooks/` and `rootfs/` (the repository's
    /// `images/debian12`, shared by every Debian 12 architecture); found by
    /// ``locateDataDirectory()`` when `nil`.
    public var dataDirectory: URL?
    /// Attempts when the mirror is mid-sync, and the pause between them.
    public var mirrorAttempts = 3
    public var mirrorRetryPause: Duration = .seconds(60)

    /// Packages a vmtest guest needs: systemd as init, the hvc0 shell, cloud-init (with
    /// systemd-networkd rendering its network config), sshd and what tests use; and what a
    /// kernel update needs, as on a board: initramfs-tools and linux-base (the kernel
    /// package depends on them) and u-boot-menu (it rewrites extlinux.conf for U-Boot).
    public static let basePackages = [
        "systemd-sysv", "udev", "dbus", "kmod", "procps", "iproute2", "netbase",
        "systemd-resolved", "openssh-server", "openssh-sftp-server", "cloud-init", "sudo", "rpm",
        "initramfs-tools", "linux-base", "u-boot-menu",
    ]
    /// Modules the initramfs loads (with their dependencies): virtio over MMIO
    /// (`-device virtio-blk-device`) and PCI (libvirt's default on `virt`), the disk, ext4 to
    /// mount root, and virtio_console so `/dev/hvc0` exists before udev runs (the hvc0
    /// shell starts without waiting for udev's coldplug).
    public static let initramfsModules = ["virtio_mmio", "virtio_pci", "virtio_blk", "ext4", "virtio_console"]
    /// Root by label: QEMU's virt machine probes virtio-mmio slots in reverse, so with a
    /// seed or payload disk attached `/dev/vda` is not necessarily the root disk.
    public static let kernelCommandLine = "console=ttyAMA0 root=LABEL=vmtest-root rw"
    public static let filesystemLabel = "vmtest-root"
    public static let hostname = "vmtest"
    /// Units that only cost boot time (or write to the disk) in a throw-away test VM.
    public static let maskedUnits = [
        "apt-daily.timer", "apt-daily-upgrade.timer", "apt-daily.service", "apt-daily-upgrade.service",
        "man-db.timer", "man-db.service", "e2scrub_all.timer", "e2scrub_all.service", "e2scrub_reap.service",
        "fstrim.timer", "fstrim.service", "dpkg-db-backup.timer", "dpkg-db-backup.service",
        "systemd-tmpfiles-clean.timer", "logrotate.timer",
        // A guest on the serial channel has no network interface: waiting for one to come
        // up failed after 2 minutes and left systemd `degraded`.
        "systemd-networkd-wait-online.service",
    ]
    /// Paths whose maintainer-script work is done natively (see the essential hook).
    static let divertedPaths = [
        "/usr/sbin/update-ca-certificates", "/usr/bin/py3compile", "/usr/bin/py3clean", "/usr/sbin/locale-gen",
        "/usr/share/i18n/SUPPORTED", "/usr/sbin/update-initramfs",
    ]
    /// dpkg's helpers that run as the host's own binaries while mmdebstrap installs (see the
    /// extract hook): decompressing every package emulated was half of the unpacking.
    static let nativeTools = ["/usr/bin/dpkg-deb", "/usr/bin/dpkg-split"]
    static let excludedPaths = [
        "/usr/share/man/*", "/usr/share/info/*", "/usr/share/doc/*", "/usr/share/locale/*",
        "/usr/share/lintian/*", "/usr/share/linda/*",
    ]

    public init(recipe: DebianImageRecipe, dataDirectory: URL? = nil) {
        self.recipe = recipe
        self.dataDirectory = dataDirectory
    }

    /// Finds the image data directory `images/NAME` in the ``DataSearchPath`` order
    /// (`$VMTEST_IMAGES_DIR`, `./images`, `~/.config/vmtest/images`, `/etc/vmtest/images`,
    /// the installed `share/vmtest/images`, the source tree's).
    public static func locateDataDirectory(named name: String = "debian12") throws(DebianImageBuildError) -> URL {
        let search = DataSearchPath.standard()
        if let found = search.imageRecipe(named: name) { return found }
        throw .dataDirectoryMissing(searched: search.locations(of: .images).map { $0.directory.appendingPathComponent(name).path })
    }

    /// Builds into `directory` (empty, created by the caller; the caller renames it into
    /// place on success). Leaves `disk.qcow2`, `vmlinuz`, `initrd.img` and `build.log`
    /// there; every temporary file is removed, also on failure.
    public func build(into directory: URL, progress: @escaping @Sendable (String) -> Void) async throws -> BuiltImage {
        try validate()
        guard geteuid() == 0 else { throw DebianImageBuildError.requiresRoot }
        let data = try dataDirectory ?? Self.locateDataDirectory()
        let directory = directory.standardizedFileURL
        let root = directory.appendingPathComponent("rootfs.tmp")
        let downloads = directory.appendingPathComponent("debs.tmp")
        let staging = directory.appendingPathComponent("unpack.tmp")
        let raw = directory.appendingPathComponent("disk.raw.tmp")
        let rpmScratch = directory.appendingPathComponent("rpm.tmp")
        let nativeFiles = directory.appendingPathComponent("native-files.tmp")
        defer {
            for url in [root, downloads, staging, raw, rpmScratch, nativeFiles] { try? FileManager.default.removeItem(at: url) }
        }
        let total = ContinuousClock.now
        let steps = PhaseRecorder(reporter: StepReporter(progress: progress))

        try await steps.timed("install packages (mmdebstrap, emulated)", "") {
            try await bootstrap(root: root, downloads: downloads, nativeFiles: nativeFiles, data: data, progress: progress)
            try undoDiversions(of: Self.nativeTools, root: root)
            try Self.removeNativeFiles(listedIn: nativeFiles, root: root)
        }
        let kernel = DebianKernelInstall(
            root: root, packages: try Self.downloadedPackages(prefix: "linux-image-", in: downloads),
            excludedPaths: Self.excludedPaths)
        let kernelVersion = try await steps.timed("kernel: dpkg --unpack, depmod (native)", "") {
            let version = try await kernel.unpack()
            try await ExternalTool.depmod.run(["-a", "-b", root.path, version])
            return version
        }
        try await steps.timed("initramfs (native)", "") {
            try await buildInitramfs(
                root: root, kernelVersion: kernelVersion, downloads: downloads,
                staging: staging, data: data, output: directory)
        }
        try await steps.timed("kernel: maintainer scripts, boot menu (emulated)", "") {
            try await kernel.configure()
        }
        try await steps.timed("native replacements for diverted maintainer-script work", "") {
            try undoDiversions(of: Self.divertedPaths, root: root)
            try Self.completeLocaleGen(root: root)
            try await NativeCertificates(root: root).update()
            try await compilePython(root: root, progress: progress)
        }
        try FileManager.default.copyItem(
            at: root.appendingPathComponent("boot/vmlinuz-\(kernelVersion)"), to: directory.appendingPathComponent("vmlinuz"))
        try await steps.timed("configure the guest", "") {
            try await configure(root: root, data: data)
        }
        try await steps.timed("rpm database: what dpkg installed (native)", "") {
            try FileManager.default.createDirectory(at: rpmScratch, withIntermediateDirectories: true)
            try await DpkgProvides(root: root).register(scratch: rpmScratch)
        }
        _ = try await steps.timed("mkfs.ext4 -d (\(recipe.diskSize)) behind an MBR", "") {
            try await BootDisk(label: Self.filesystemLabel, size: recipe.diskSize).make(raw, from: root)
        }
        try FileManager.default.removeItem(at: root)
        let disk = directory.appendingPathComponent("disk.qcow2")
        _ = try await steps.timed("qemu-img convert to qcow2", "") {
            try await ExternalTool.qemuImg.run(["convert", "-f", "raw", "-O", "qcow2", raw.path, disk.path])
        }
        let seconds = (ContinuousClock.now - total).seconds
        let log = steps.phases.map { StepReporter.line($0.name, $0.seconds) } + [String(format: "total %.1f s", seconds)]
        try? Data(log.joined(separator: "\n").appending("\n").utf8)
            .write(to: directory.appendingPathComponent("build.log"))
        progress(String(format: "image built in %.1f s (kernel %@)", seconds, kernelVersion))
        return BuiltImage(
            disk: disk.path,
            kernel: directory.appendingPathComponent("vmlinuz").path,
            initrd: directory.appendingPathComponent("initrd.img").path,
            kernelCommandLine: Self.kernelCommandLine,
            kernelVersion: kernelVersion
        )
    }

    // MARK: steps

    /// A build step's progress as the lines `build(into:progress:)` promises:
    /// `NAME...` as it begins, `NAME: 12.3 s` as it ends, also kept in build.log.
    private struct StepReporter: Reporter {
        let progress: @Sendable (String) -> Void

        static func line(_ name: String, _ seconds: Double) -> String { String(format: "%@: %.1f s", name, seconds) }

        func begin(_ phase: String, _ detail: String) { progress("\(phase)...") }
        func detail(_ phase: String, _ message: String) { progress(message) }
        func end(_ phase: String, seconds: Double, _ detail: String) { progress(Self.line(phase, seconds)) }
        func note(_ message: String) { progress(message) }
    }

    func validate() throws(DebianImageBuildError) {
        let word = /^[A-Za-z0-9][A-Za-z0-9.+:~_-]*$/
        for (field, value) in [
            ("suite", recipe.suite), ("architecture", recipe.architecture),
            ("kernelPackage", recipe.kernelPackage),
        ] + recipe.packages.map({ ("packages", $0) }) {
            guard value.wholeMatch(of: word) != nil else { throw .invalidRecipe("\(field) '\(value)' is not a Debian name") }
        }
        guard recipe.diskSize.wholeMatch(of: /^[1-9][0-9]*[KMGT]?$/) != nil else {
            throw .invalidRecipe("diskSize '\(recipe.diskSize)' is not a size like 4G")
        }
        guard let url = URL(string: recipe.mirror), ["http", "https", "file"].contains(url.scheme ?? "") else {
            throw .invalidRecipe("mirror '\(recipe.mirror)' is not an http(s) or file URL")
        }
    }

    /// The mmdebstrap command line (without the hooks' environment).
    func mmdebstrapArguments(root: URL, data: URL) -> [String] {
        var arguments = [
            "--mode=root", "--variant=minbase", "--arch=\(recipe.architecture)", "--components=main",
            "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
            "--include=\((Self.basePackages + recipe.packages).joined(separator: ","))",
            "--aptopt=APT::Install-Recommends \"false\"",
            "--dpkgopt=force-unsafe-io",
        ]
        arguments += Self.excludedPaths.map { "--dpkgopt=path-exclude=\($0)" }
        arguments += [
            "--extract-hook=\(data.appendingPathComponent("hooks/native-dpkg-deb.sh").path)",
            // After the merged-usr hook's (given before it): see the hook.
            "--essential-hook=\(data.appendingPathComponent("hooks/native-dpkg-deb.sh").path)",
            "--essential-hook=\(data.appendingPathComponent("hooks/essential-divert.sh").path)",
            "--customize-hook=\(data.appendingPathComponent("hooks/download-boot-packages.sh").path)",
        ]
        // mmdebstrap's binfmt check needs arch-test; without it, trust the registration
        // (a missing one fails the first chroot call with a clear exec format error).
        if ExternalTool.archTest.path == nil {
            arguments.append("--skip=check/qemu")
        }
        arguments += [recipe.suite, root.path, recipe.mirror]
        return arguments
    }

    /// apt's words for a mirror caught mid-sync.
    static func isMirrorSyncFailure(_ text: String) -> Bool {
        ["Mirror sync in progress", "Hash Sum mismatch", "File has unexpected size"].contains { text.contains($0) }
    }

    private func bootstrap(
        root: URL, downloads: URL, nativeFiles: URL, data: URL, progress: @Sendable (String) -> Void
    ) async throws {
        var attempt = 1
        while true {
            for url in [root, downloads] { try? FileManager.default.removeItem(at: url) }
            do {
                try await ExternalTool.mmdebstrap.run(
                    mmdebstrapArguments(root: root, data: data),
                    environment: [
                        "VMTEST_DIVERT": Self.divertedPaths.joined(separator: " "),
                        "VMTEST_KERNEL_PACKAGE": recipe.kernelPackage,
                        "VMTEST_DOWNLOAD_DIR": downloads.path,
                        "VMTEST_ARCHITECTURE": recipe.architecture,
                        "VMTEST_NATIVE_TOOLS": Self.nativeTools.joined(separator: " "),
                        "VMTEST_NATIVE_LIST": nativeFiles.path,
                    ]
                )
                return
            } catch let error as ToolError {
                guard case .failed(_, _, _, let standardError) = error,
                    Self.isMirrorSyncFailure(standardError)
                else { throw error }
                let detail =
                    standardError.split(separator: "\n")
                    .first { Self.isMirrorSyncFailure(String($0)) }.map(String.init) ?? "mirror sync in progress"
                guard attempt < mirrorAttempts else {
                    throw DebianImageBuildError.mirrorOutOfSync(mirror: recipe.mirror, attempts: attempt, detail: detail)
                }
                progress(
                    "mirror \(recipe.mirror) is mid-sync (\(detail)); retrying in \(mirrorRetryPause) (attempt \(attempt + 1) of \(mirrorAttempts))"
                )
                try await Task.sleep(for: mirrorRetryPause)
                attempt += 1
            }
        }
    }

    /// Removes the build-time stand-ins for `paths` and the local diversions the hooks added
    /// for them, putting each package's real file back.
    func undoDiversions(of paths: [String], root: URL) throws {
        let diversionsFile = root.appendingPathComponent("var/lib/dpkg/diversions")
        let lines = try String(contentsOf: diversionsFile, encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var kept: [String] = []
        var index = 0
        while index + 2 < lines.count {
            let (path, divertedTo, package) = (lines[index], lines[index + 1], lines[index + 2])
            index += 3
            guard paths.contains(path), divertedTo == path + ".distrib", package == ":" else {
                kept += [path, divertedTo, package]
                continue
            }
            let file = root.appendingPathComponent(String(path.dropFirst()))
            let real = root.appendingPathComponent(String(divertedTo.dropFirst()))
            try? FileManager.default.removeItem(at: file)
            if FileManager.default.fileExists(atPath: real.path)
                || (try? FileManager.default.destinationOfSymbolicLink(atPath: real.path)) != nil
            {
                try FileManager.default.moveItem(at: real, to: file)
            }
        }
        let text = kept.isEmpty ? "" : kept.joined(separator: "\n") + "\n"
        try Data(text.utf8).write(to: diversionsFile)
    }

    /// Removes what the extract hook copied in for the host's dpkg helpers (the host's loader
    /// and libraries, and the folders and links made for them), innermost first; a folder is
    /// removed only if nothing else was put in it.
    static func removeNativeFiles(listedIn list: URL, root: URL) throws {
        guard let text = try? String(contentsOf: list, encoding: .utf8) else { return }
        for path in text.split(separator: "\n").reversed() {
            let url = root.appendingPathComponent(String(path.drop { $0 == "/" }))
            var status = stat()
            guard lstat(url.path, &status) == 0 else { continue }
            if status.st_mode & S_IFMT == S_IFDIR {
                _ = rmdir(url.path)
            } else {
                try FileManager.default.removeItem(at: url)
            }
        }
        try FileManager.default.removeItem(at: list)
    }

    /// Finishes what the locales postinst does with the real list of supported locales (it
    /// saw a stub listing only C.UTF-8): every supported locale not yet in
    /// `/etc/locale.gen` is added commented out, in `LC_ALL=C sort -u` order.
    static func completeLocaleGen(root: URL) throws {
        let localeGen = root.appendingPathComponent("etc/locale.gen")
        let supported = root.appendingPathComponent("usr/share/i18n/SUPPORTED")
        guard FileManager.default.fileExists(atPath: localeGen.path),
            let list = try? String(contentsOf: supported, encoding: .utf8)
        else { return }
        var text = try String(contentsOf: localeGen, encoding: .utf8)
        let present = Set(
            text.split(separator: "\n").map { line in
                var line = Substring(line)
                while let first = line.first, first == "#" || first == " " { line = line.dropFirst() }
                while line.hasSuffix(" ") { line = line.dropLast() }
                return String(line)
            })
        let locales = Set(
            list.split(separator: "\n")
                .filter { $0.first.map { $0.isASCII && $0.isLetter } ?? false }
                .map { line -> String in
                    var line = Substring(line)
                    while line.hasSuffix(" ") { line = line.dropLast() }
                    return String(line)
                })
        let missing = locales.filter { !present.contains($0) }.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        if missing.isEmpty { return }
        if !text.isEmpty && !text.hasSuffix("\n") { text += "\n" }
        text += missing.map { "# " + $0 + "\n" }.joined()
        try Data(text.utf8).write(to: localeGen)
    }

    /// Byte-compiles the guest's Python modules with the host's Python of the same minor
    /// version (.pyc files are architecture-independent); falls back to the guest's
    /// compileall under emulation when the host has no matching Python.
    private func compilePython(root: URL, progress: @Sendable (String) -> Void) async throws {
        let libraries = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("usr/lib").path)) ?? []
        guard let version = libraries.filter({ $0.wholeMatch(of: /python3\.[0-9]+/) != nil }).sorted().last else { return }
        let directories = ["usr/lib/\(version)", "usr/lib/python3/dist-packages", "usr/share/python3"]
            .filter { FileManager.default.fileExists(atPath: root.appendingPathComponent($0).path) }
        let host = ["/usr/bin/\(version)", ExternalTool(version, debianPackage: version).path].compactMap { $0 }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
        // -s/-p make the recorded source paths the guest's; errors in single files (test
        // data with deliberate syntax errors) are reported by compileall but are not fatal.
        do {
            if let host {
                // ExternalTool looks names up on PATH; `env` runs the absolute path.
                try await ExternalTool.env.run(
                    [host] + [
                        "-E", "-m", "compileall", "-q", "-j", "0", "-s", root.path, "-p", "/",
                        "-x", "/(test|tests|idlelib/idle_test|lib2to3/tests)/",
                    ] + directories.map { root.appendingPathComponent($0).path })
            } else {
                progress("no host \(version); byte-compiling under emulation")
                try await ExternalTool.chroot.run(
                    [
                        root.path, "/usr/bin/\(version)", "-E", "-m", "compileall", "-q", "-j", "0",
                        "-x", "/(test|tests|idlelib/idle_test|lib2to3/tests)/",
                    ] + directories.map { "/" + $0 })
            }
        } catch let error as ToolError {
            progress("compileall reported errors (ignored): \(error)")
        }
    }

    private func buildInitramfs(
        root: URL, kernelVersion: String, downloads: URL, staging: URL, data: URL, output: URL
    ) async throws {
        let deb = try Self.downloadedPackages(prefix: "busybox-static_", in: downloads)[0]
        let unpacked = staging.appendingPathComponent("busybox")
        try FileManager.default.createDirectory(at: unpacked, withIntermediateDirectories: true)
        try await ExternalTool.dpkgDeb.run(["-x", deb.path, unpacked.path])
        let initramfs = MinimalInitramfs(
            busybox: try Data(contentsOf: unpacked.appendingPathComponent("bin/busybox")),
            initScript: try Data(contentsOf: data.appendingPathComponent("init")),
            modulesDirectory: root.appendingPathComponent("usr/lib/modules/\(kernelVersion)"),
            modules: Self.initramfsModules
        )
        let cpio = staging.appendingPathComponent("initrd.cpio")
        try initramfs.archive().archive.write(to: cpio)
        // The kernel unpacks zstd (CONFIG_RD_ZSTD); it decompresses faster than gzip in the
        // emulated CPU.
        let initrd = output.appendingPathComponent("initrd.img")
        try await ExternalTool.zstd.run(["-q", "-19", "-f", cpio.path, "-o", initrd.path])
        // Where initramfs-tools would have put its own, for u-boot-menu to list.
        try FileManager.default.copyItem(at: initrd, to: root.appendingPathComponent("boot/initrd.img-\(kernelVersion)"))
    }

    /// Files, units and settings a vmtest guest relies on.
    private func configure(root: URL, data: URL) async throws {
        let fm = FileManager.default
        func write(_ path: String, _ text: String, permissions: Int = 0o644) throws {
            let url = root.appendingPathComponent(path)
            try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try? fm.removeItem(at: url)
            try Data(text.utf8).write(to: url)
            try fm.setAttributes([.posixPermissions: permissions], ofItemAtPath: url.path)
        }
        try Self.copyTree(from: data.appendingPathComponent("rootfs"), to: root)
        // Man pages are excluded, but not their folder for commands: packages install
        // alternatives with man pages as slave links, and update-alternatives fails when
        // the folder is missing (seen: openjdk-17-jre-headless failed to install).
        try fm.createDirectory(at: root.appendingPathComponent("usr/share/man/man1"), withIntermediateDirectories: true)

        try write("etc/hostname", Self.hostname + "\n")
        try write(
            "etc/hosts",
            """
            127.0.0.1\tlocalhost
            127.0.1.1\t\(Self.hostname)
            ::1\t\tlocalhost ip6-localhost ip6-loopback
            ff02::1\t\tip6-allnodes
            ff02::2\t\tip6-allrouters

            """)
        try write(
            "etc/fstab",
            "# vmtest: one file system, /boot included\nLABEL=\(Self.filesystemLabel) / ext4 rw,noatime,errors=remount-ro 0 1\n")
        // The initramfs initramfs-tools makes in the guest for a kernel an update installs:
        // the modules this machine needs (the virt machine's virtio and ext4), not most of
        // the kernel's, which took longer than a test's 600 s under TCG; gzip, as the image
        // has no zstd.
        try write(
            "etc/initramfs-tools/conf.d/vmtest.conf",
            "# vmtest: see DebianImageBuilder.configure\nMODULES=dep\nCOMPRESS=gzip\n")
        // Empty: systemd makes a fresh machine id on every boot of every overlay.
        try write("etc/machine-id", "", permissions: 0o444)
        try? fm.removeItem(at: root.appendingPathComponent("var/lib/dbus/machine-id"))
        try Self.lockRootPassword(shadow: root.appendingPathComponent("etc/shadow"))
        // No host keys in the image: cloud-init makes them at first boot.
        for name in (try? fm.contentsOfDirectory(atPath: root.appendingPathComponent("etc/ssh").path)) ?? []
        where name.hasPrefix("ssh_host_") {
            try fm.removeItem(at: root.appendingPathComponent("etc/ssh").appendingPathComponent(name))
        }

        // The same root shell on the board's serial console, for profiles that boot through
        // U-Boot (whose kernel command line names only ttyAMA0).
        let shellUnit = root.appendingPathComponent("etc/systemd/system/serial-getty@hvc0.service")
        let boardShell = root.appendingPathComponent("etc/systemd/system/serial-getty@ttyAMA0.service")
        try? fm.removeItem(at: boardShell)
        try fm.copyItem(at: shellUnit, to: boardShell)

        let systemctl = ["--root=\(root.path)", "--quiet", "--no-reload"]
        try await ExternalTool.systemctl.run(systemctl + ["enable", "serial-getty@hvc0.service", "systemd-networkd.service"])
        try await ExternalTool.systemctl.run(systemctl + ["mask"] + Self.maskedUnits)

        // apt lists and caches are gone already (mmdebstrap cleans them); logs of the build
        // are of no use in the guest.
        for path in [
            "var/log/dpkg.log", "var/log/alternatives.log", "var/log/apt", "var/cache/debconf/config.dat-old",
            "var/cache/debconf/templates.dat-old", "var/lib/dpkg/status-old", "var/lib/dpkg/diversions-old",
            "etc/ssh/sshd_config.ucf-dist",
        ] {
            try? fm.removeItem(at: root.appendingPathComponent(path))
        }
    }

    /// Sets root's password field to `!*`: no password login (the hvc0 shell is an
    /// autologin, SSH uses keys).
    static func lockRootPassword(shadow: URL) throws {
        let text = try String(contentsOf: shadow, encoding: .utf8)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (index, line) in lines.enumerated() where line.hasPrefix("root:") {
            var fields = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            if fields.count > 1 { fields[1] = "!*" }
            lines[index] = fields.joined(separator: ":")
        }
        try Data(lines.joined(separator: "\n").utf8).write(to: shadow)
    }

    /// Copies a directory tree over the root (directories merged, files replaced).
    static func copyTree(from source: URL, to destination: URL) throws {
        let fm = FileManager.default
        guard let enumerator = fm.enumerator(at: source, includingPropertiesForKeys: [.isDirectoryKey]) else { return }
        let base = source.standardizedFileURL.path
        for case let url as URL in enumerator {
            let relative = String(url.standardizedFileURL.path.dropFirst(base.count + 1))
            let target = destination.appendingPathComponent(relative)
            if (try url.resourceValues(forKeys: [.isDirectoryKey])).isDirectory == true {
                try fm.createDirectory(at: target, withIntermediateDirectories: true)
            } else {
                try? fm.removeItem(at: target)
                try fm.copyItem(at: url, to: target)
            }
        }
    }

    /// Every downloaded package whose name starts with the prefix (at least one).
    static func downloadedPackages(prefix: String, in directory: URL) throws -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        let found = names.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".deb") }.sorted()
        guard !found.isEmpty else {
            throw DebianImageBuildError.bootPackageMissing(
                prefix.trimmingCharacters(in: CharacterSet(charactersIn: "_-")), directory: directory.path)
        }
        return found.map { directory.appendingPathComponent($0) }
    }
}
