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
        for name in [
            "init", "bin/busybox", "etc/modules-load.order", "lib/modules/\(kit.kernelRelease)/modules.dep",
            "lib/modules/\(kit.kernelRelease)/modules.alias.bin",
        ] {
            #expect(names.contains(name), "\(name) in the initramfs")
        }
        for path in kit.rootModules { #expect(names.contains("lib/modules/" + path), "\(path) loaded to mount root") }
        for path in kit.runtimeModules { #expect(names.contains("lib/modules/\(kit.kernelRelease)/" + path)) }
    }

    /// `vmtest run --guest-kernel 64` here, under TCG: the way a Neoverse N1 host runs the
    /// guest under KVM, with the same kit, init and domain.
    @Test func theArmhfImageRunsOnTheArm64KernelAsA32BitArmMachine() async throws {
        _ = try await EndToEnd.debianProfile()
        let kit = try await Self.kit()
        let rpm = try #require(try await RunTests.examplePackages()["vmtest-hello"])
        let commands = [
            "uname -m", "uname -r", "getconf LONG_BIT", "dpkg --print-architecture", "tr '\\0' '\\n' < /proc/1/cmdline | head -n 1",
            "rpm --showrc | sed -n 's/^install arch *: //p'", "rpm -q --qf '%{ARCH}\\n' vmtest-hello",
            "cat /sys/block/vd*/serial; echo", "systemctl is-active systemd-journald systemd-udevd",
        ]
        let results = RunTests.results("compat")
        defer { try? FileManager.default.removeItem(at: results) }
        let run = try await EndToEnd.vmtest(
            ["run", "debian12-armhf", "--guest-kernel", "64", "--cold", "--rpm", rpm, "--results", results.path]
                + commands.flatMap { ["--test", $0] })
        #expect(run.status == 0, "stderr: \(run.error)")
        #expect(run.error.contains("running as tcg, aarch64 kernel"))
        let summary = try EmulatedArmHostTests.summary(in: results)
        #expect(summary.accelerator == "tcg")
        #expect(summary.guestKernel == "aarch64")
        #expect(summary.tests.contains { $0.kind == "installed-tests" && $0.verdict == "passed" }, "the armv7hl RPM's own test")
        let answers = try EmulatedArmHostTests.commandOutputs(in: results, count: commands.count)
        #expect(
            answers == [
                "armv8l", kit.kernelRelease, "32", "armhf", "/sbin/init",
                // rpm's install architecture is what it detects on a 32-bit kernel of a NEON CPU, not armv8l.
                "armv7hnl", "armv7hl",
                // The payload disk, which the guest finds by its serial number.
                "vmtest-payload", "active\nactive",
            ])
    }
}
