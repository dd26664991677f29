import Foundation
import Testing

@testable import VMTest

/// Real armhf guests, booted under QEMU through libvirt's embedded driver.
@Suite(.serialized, .timeLimit(.minutes(30))) struct BootTests {
    @Test func bootsTheDebianGuestAndRunsCommandsInIt() async throws {
        let profile = try await EndToEnd.debianProfile()
        let store = ImageStore(root: EndToEnd.directories.images)
        let image = try #require(store.cached(profile))
        let baseChecksum = try await SHA256Sum.of(file: URL(fileURLWithPath: image.disk))

        let launcher = GuestLauncher(directories: EndToEnd.directories, reporter: LineReporter(isTerminal: false))
        let (domainName, overlayExisted) = try await launcher.withGuest(profile) { guest in
            let machine = try await guest.shell.run("uname -m", timeout: .seconds(120))
            #expect(machine.exitStatus == 0)
            #expect(machine.standardOutput == "armv7l\n")

            let failing = try await guest.shell.run("echo to-stderr >&2; exit 3", timeout: .seconds(120))
            #expect(failing.exitStatus == 3)
            #expect(failing.standardError == "to-stderr\n")

            // The image's dpkg helpers are the guest's own again (the host's ran in their
            // place while the image was built), and nothing of the host's is left.
            let tools = try await guest.shell.run(
                // (--verify also lists the documentation the image leaves out as missing.)
                "dpkg --verify dpkg | grep ' /usr/bin/'; dpkg-deb --version >/dev/null && dpkg-split --version >/dev/null"
                    + " && ls -d /lib64 /usr/lib64 /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu 2>/dev/null;"
                    + " ! grep -q '^/usr/bin/dpkg-' /var/lib/dpkg/diversions && echo intact",
                timeout: .seconds(120))
            #expect(tools.standardOutput == "intact\n", "\(tools.standardOutput)\(tools.standardError)")

            // A TCG guest's QEMU runs without transparent huge pages (Hypervisor.prepareForGuests).
            #expect(guest.accelerator.accelerator == .tcg, "this machine has no KVM for Arm guests")
            let qemus = EndToEnd.qemuProcesses(forDomain: guest.domainName)
            #expect(!qemus.isEmpty)
            for pid in qemus {
                let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
                #expect(status.contains("THP_enabled:\t0\n"), "QEMU \(pid) may get transparent huge pages")
            }

            // The guest writes to its overlay, never to the base.
            let write = try await guest.shell.run("echo data > /root/written && sync && cat /root/written", timeout: .seconds(120))
            #expect(write.standardOutput == "data\n")
            #expect(!EndToEnd.qemuProcesses(forDomain: guest.domainName).isEmpty)
            let overlay = EndToEnd.directories.runs.appendingPathComponent(guest.runID).appendingPathComponent("overlay.qcow2")
            return (guest.domainName, FileManager.default.fileExists(atPath: overlay.path))
        }
        #expect(overlayExisted)
        #expect(EndToEnd.qemuProcesses(forDomain: domainName).isEmpty, "QEMU outlived the scope")
        let runID = String(domainName.dropFirst("vmtest-".count))
        #expect(
            !FileManager.default.fileExists(atPath: EndToEnd.directories.runs.appendingPathComponent(runID).path),
            "the run directory (overlay) is left")
        #expect(try await SHA256Sum.of(file: URL(fileURLWithPath: image.disk)) == baseChecksum, "the base image changed")
        #expect(image.diskSHA256 == baseChecksum, "the base image differs from the one built")
    }

    @Test func theCommandLineReturnsTheGuestsExitStatus() async throws {
        _ = try await EndToEnd.debianProfile()
        let result = try await EndToEnd.vmtest(["boot", "debian12-armhf", "--", "uname -m; exit 7"])
        #expect(result.status == 7, "stderr: \(result.error)")
        #expect(result.output == "armv7l\n")
        #expect(result.error.contains("emulating the armv7l guest with TCG"))
        #expect(result.error.contains("teardown: guest destroyed"))
    }

    @Test func ctrlCDuringBootLeavesNothingBehind() async throws {
        _ = try await EndToEnd.debianProfile()
        let result = try await EndToEnd.vmtest(["boot", "debian12-armhf", "--cold", "--", "true"], interruptAfter: "ready: waiting")
        #expect(result.status == 130, "stderr: \(result.error)")
        let name = try #require(result.error.firstMatch(of: /starting (vmtest-[0-9a-z-]+)/)?.1)
        #expect(EndToEnd.qemuProcesses(forDomain: String(name)).isEmpty, "QEMU outlived Ctrl-C")
        let runID = name.dropFirst("vmtest-".count)
        #expect(!FileManager.default.fileExists(atPath: EndToEnd.directories.runs.appendingPathComponent(String(runID)).path))
    }
}
