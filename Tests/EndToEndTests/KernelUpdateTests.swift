import Foundation
import Testing

@testable import VMTest

/// A kernel update on the profile that boots as a board does (debian12-armhf-uboot): the
/// image runs bookworm's kernel; `--update` with the newer linux-image-armmp-lpae from
/// bookworm-security (the meta package alone: its new ABI's package comes from the mirror
/// through the served repository) installs the new kernel, the guest's initramfs-tools
/// makes its initramfs, u-boot-menu puts it first in extlinux.conf, the guest reboots
/// through U-Boot into it, and the health check finds the newest kernel running.
@Suite struct KernelUpdateTests {
    @Test func aKernelUpdateOnTheUBootProfileBootsTheNewKernel() async throws {
        _ = try await EndToEnd.debianProfile()
        let folder = try DebianPackageTests.folder("kernel")
        defer { try? FileManager.default.removeItem(at: folder) }
        let meta = try await DebianPackageTests.download("linux-image-armmp-lpae", into: folder)
        let depends = try await ExternalTool.dpkgDeb.run(["-f", meta.path, "Depends"])
        let newKernel = try #require(
            depends.firstMatch(of: /linux-image-([0-9][^ ]*)/).map { String($0.1) }, "the meta package names no kernel: \(depends)")

        let results = folder.appendingPathComponent("results")
        let menuCommand = "sed -n '/^label l0$/,/append/p' /boot/extlinux/extlinux.conf"
        let run = try await EndToEnd.vmtest([
            "run", "debian12-armhf-uboot", "--update", meta.path, "--test", "uname -r", "--test", menuCommand,
            "--results", results.path,
        ])
        #expect(run.status == 0, "stderr: \(run.error)")
        let summary = try RunTests.summary(in: results)
        let names = ["update", "health", "dpkg-verify linux-image-armmp-lpae", "command 1: uname -r", "command 2: \(menuCommand)"]
        #expect(summary.tests.map(\.name) == names, "\(summary.tests)")
        #expect(summary.tests.allSatisfy { $0.verdict == "passed" }, "\(summary.tests)")
        func log(_ name: String) throws -> String {
            let number = try #require(names.firstIndex(of: name)) + 1
            let file = String(format: "%02d-", number) + RunResultsWriter.slug(name) + ".log"
            return try String(contentsOf: results.appendingPathComponent("tests").appendingPathComponent(file), encoding: .utf8)
        }

        let update = try log("update")
        let before = try #require(update.firstMatch(of: /running kernel: (\S+)/).map { String($0.1) }, "\(update)")
        #expect(before != newKernel, "the image already ran \(newKernel): bookworm-security has no newer kernel than bookworm")
        #expect(update.contains("Setting up linux-image-\(newKernel)"), "\(update)")
        #expect(update.contains("update-initramfs: Generating /boot/initrd.img-\(newKernel)"), "\(update)")
        #expect(run.error.contains("rebooting after the update: "), "\(run.error)")

        let health = try log("health")
        #expect(health.contains("kernel: running \(newKernel), newest installed \(newKernel)"), "\(health)")
        #expect(health.contains("system: running"), "\(health)")
        let uname = try log("command 1: uname -r")
        #expect(uname.contains("\n\(newKernel)\n") && !uname.contains(before), "uname -r after the reboot: \(uname)")
        let menu = try log("command 2: \(menuCommand)")
        #expect(menu.contains("linux /boot/vmlinuz-\(newKernel)") && menu.contains("initrd /boot/initrd.img-\(newKernel)"), "\(menu)")
    }
}
