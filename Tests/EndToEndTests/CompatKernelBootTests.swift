import Foundation
import Testing

@testable import VMTest

/// The 64-bit guest kernel kit: Debian's arm64 kernel booting the unchanged debian12-armhf
/// image under TCG (`qemu-system-aarch64 -cpu cortex-a72`), through libvirt, the way a
/// host whose cores run AArch32 only at EL0 runs it under KVM.
///
/// The launcher does not choose this mode yet; the test turns the profile's domain into
/// the compat one with ``LaunchOptions/adjustDefinition`` (aarch64, the kit's kernel and
/// initrd, the image's own command line).
@Suite(.serialized, .timeLimit(.minutes(30))) struct CompatKernelBootTests {
    static let reporter = LineReporter(isTerminal: false)

    static func kit() async throws -> CompatKernel {
        try await CompatKernelStore(directories: EndToEnd.directories).kit(reporter: reporter)
    }

    @Test func theKitIsBuiltOnceWithTheModulesTheRunningSystemNeeds() async throws {
        let kit = try await Self.kit()
        for path in [kit.kernel, kit.initrd] { #expect(FileManager.default.fileExists(atPath: path), "\(path)") }
        #expect(kit.kernelRelease.hasSuffix("-arm64"))
        #expect(kit.directory.hasPrefix(EndToEnd.directories.cache.appendingPathComponent("kernels/debian12-arm64").path))
        #expect(kit.rootModules.last(where: { $0.hasSuffix("/ext4.ko") }) != nil)
        #expect(kit.runtimeModules.contains { $0.hasSuffix("/virtio_net.ko") })
        #expect(kit.runtimeModules.contains { $0.hasSuffix("/isofs.ko") })

        // Cached: the same folder, no new build.
        let again = try await Self.kit()
        #expect(again == kit)

        // What the initramfs holds, as the host's cpio reads it.
        let listing = try await EndToEnd.command(
            URL(fileURLWithPath: "/bin/sh"), ["-c", "zstd -dc '\(kit.initrd)' | cpio -t --quiet"])
        #expect(listing.status == 0)
        let names = Set(listing.output.split(separator: "\n").map(String.init))
        for name in ["init", "bin/busybox", "etc/modules-load.order", "lib/modules/\(kit.kernelRelease)/modules.dep",
                     "lib/modules/\(kit.kernelRelease)/modules.alias.bin"] {
            #expect(names.contains(name), "\(name) in the initramfs")
        }
        for path in kit.rootModules { #expect(names.contains("lib/modules/" + path), "\(path) loaded to mount root") }
        for path in kit.runtimeModules { #expect(names.contains("lib/modules/\(kit.kernelRelease)/" + path)) }
    }

    @Test func theArmhfImageBootsOnTheArm64KernelAsA32BitArmMachine() async throws {
        let profile = try await EndToEnd.debianProfile()
        let kit = try await Self.kit()
        let rpm = try #require(try RunTests.examplePackages()["vmtest-hello"])

        // A payload disk made the way `vmtest run` makes it (isofs is one of the kit's modules).
        let payload = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-compat-\(getpid())")
        try? FileManager.default.removeItem(at: payload)
        defer { try? FileManager.default.removeItem(at: payload) }
        try FileManager.default.createDirectory(at: payload.appendingPathComponent("content"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: URL(fileURLWithPath: rpm), to: payload.appendingPathComponent("content/hello.rpm"))
        let iso = payload.appendingPathComponent("payload.iso")
        try await ISOImage.write(from: payload.appendingPathComponent("content"), label: PackageTestRunner.payloadLabel, to: iso)

        let ports = try PortAllocator(directories: EndToEnd.directories).reserve()
        defer { ports.release() }
        var options = LaunchOptions(sshForwardPort: ports.port)  // a NIC, for udev to load virtio_net
        options.cold = true
        options.extraDisks = [iso]
        options.adjustDefinition = { definition in
            var definition = definition
            definition.arch = .aarch64
            definition.accelerator = AcceleratorChoice(
                accelerator: .tcg, guestKernel: .aarch64, emulator: "/usr/bin/qemu-system-aarch64", cpuModel: "cortex-a72",
                reason: "the 64-bit guest kernel under TCG")
            if case .directKernel(_, _, let commandLine) = definition.boot {
                definition.boot = .directKernel(kernel: kit.kernel, initrd: kit.initrd,
                                                commandLine: kit.kernelCommandLine(forImage: commandLine))
            }
            return definition
        }
        let launcher = GuestLauncher(directories: EndToEnd.directories, reporter: Self.reporter)
        let domainName = try await launcher.withGuest(profile, options: options) { guest in
            // Failures show the guest's answer: a non-throwing helper inside #expect.
            func run(_ command: String) async -> String {
                do {
                    let result = try await guest.shell.run(command, timeout: .seconds(300))
                    #expect(result.exitStatus == 0, "\(command): \(result.standardError)")
                    return result.standardOutput
                } catch {
                    Issue.record(error, "\(command)")
                    return ""
                }
            }
            #expect(await run("uname -m") == "armv8l\n", "PID 1's linux32 personality reaches the shell")
            #expect(await run("uname -r") == kit.kernelRelease + "\n")
            #expect(await run("getconf LONG_BIT") == "32\n")
            #expect(await run("dpkg --print-architecture") == "armhf\n")
            #expect(await run("tr '\\0' '\\n' < /proc/1/cmdline | head -n 1") == "/sbin/init\n")
            // The shell on hvc0 is up before basic.target; these two start before it.
            let services = await run("systemctl is-active systemd-journald systemd-udevd; true")
            #expect(services == "active\nactive\n")
            let failed = await run("systemctl list-units --failed --no-legend --plain")
            Self.reporter.note("failed units on the compat kernel: \(failed.isEmpty ? "none" : failed)")
            // Modules the running system loads itself: udev for the NIC, mount for the payload.
            #expect(await run("grep -c '^virtio_net ' /proc/modules") == "1\n")
            #expect(await run("ls /sys/class/net | grep -vx lo | wc -l") != "0\n")
            #expect(await run("mkdir -p /mnt/p && mount -r \"$(blkid -L \(PackageTestRunner.payloadLabel))\" /mnt/p && ls /mnt/p") == "hello.rpm\n")
            // An armv7hl RPM installs and its program runs, as on a board: rpm's install
            // architecture is what it detects on a 32-bit kernel of a NEON CPU, not armv8l.
            #expect(await run("rpm --showrc | sed -n 's/^install arch *: //p'") == "armv7hnl\n")
            #expect(await run("rpm --eval %_arch") == "arm\n")
            _ = await run("rpm -Uv --nodeps /mnt/p/hello.rpm")
            #expect(await run("rpm -q --qf '%{ARCH}\\n' vmtest-hello") == "armv7hl\n")
            _ = await run("for f in /usr/share/installed-tests/vmtest-hello/*.test; do sh -c \"$(sed -n 's/^Exec=//p' \"$f\")\"; done")
            return guest.domainName
        }
        #expect(EndToEnd.qemuProcesses(forDomain: domainName).isEmpty, "QEMU outlived the scope")
    }
}
