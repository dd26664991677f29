import Foundation
import Synchronization
import Testing

@testable import VMTest

@Suite struct SSHChannelTests {
    static let endpoint = SSHEndpoint(
        port: 40222, identity: URL(fileURLWithPath: "/run/r/id_ed25519"), knownHosts: URL(fileURLWithPath: "/run/r/known_hosts"),
        controlPath: URL(fileURLWithPath: "/run/r/ssh.sock"))

    @Test func neverAcceptsAnUnknownHostKey() {
        let options = SSHChannel(endpoint: Self.endpoint).sshOptions.joined(separator: " ")
        for option in [
            "-F /dev/null", "-o BatchMode=yes", "-o IdentitiesOnly=yes", "-i /run/r/id_ed25519", "-o StrictHostKeyChecking=yes",
            "-o UserKnownHostsFile=/run/r/known_hosts", "-o GlobalKnownHostsFile=/dev/null", "-o ControlPath=/run/r/ssh.sock",
            "-o LogLevel=ERROR", "-p 40222",
        ] {
            #expect(options.contains(option), "missing \(option)")
        }
        #expect(!options.contains("StrictHostKeyChecking=no") && !options.contains("accept-new"))
    }

    @Test func knownHostsLineNamesTheForwardedPort() throws {
        let key = try #require(
            HostKeyPin.parse("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOr4cK8Vf2K7vXh0vV0N2w2y8bqfGZ2xF4PzJb3L3m5w root@debian12-armhf\n"))
        #expect(
            HostKeyPin.knownHostsLine(key, for: Self.endpoint)
                == "[127.0.0.1]:40222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOr4cK8Vf2K7vXh0vV0N2w2y8bqfGZ2xF4PzJb3L3m5w\n")
    }

    @Test(arguments: [
        "",
        "cat: /etc/ssh/ssh_host_ed25519_key.pub: No such file or directory",
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ root@h",
        "ssh-ed25519 not-base64!",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",
    ])
    func rejectsWhatIsNotAnEd25519Key(_ text: String) {
        #expect(HostKeyPin.parse(text) == nil)
    }

    @Test func longControlPathsMoveToTheTemporaryDirectory() {
        var endpoint = Self.endpoint
        endpoint.controlPath = URL(fileURLWithPath: "/" + String(repeating: "deep/", count: 30) + "ssh.sock")
        let channel = SSHChannel(endpoint: endpoint)
        #expect(channel.endpoint.controlPath.path.utf8.count < 90)
        #expect(channel.endpoint.controlPath.lastPathComponent.hasPrefix("vmtest-ssh-"))
    }

    @Test func connectingToNothingFailsWithinItsDeadlineAndLeavesNoMaster() async throws {
        let port = try PortAllocator(lockDirectory: FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-ports-test"))
            .reserve()
        defer { port.release() }
        var endpoint = Self.endpoint
        endpoint.port = port.port
        endpoint.controlPath = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-test-\(getpid()).sock")
        let channel = SSHChannel(endpoint: endpoint)
        let start = ContinuousClock.now
        await #expect(throws: SSHChannelError.self) { try await channel.connect(timeout: .seconds(3)) }
        // Gives up after its 3 s, not after a probe's own 60 s limit: in a CI main batch,
        // with guests busy on both cores, starting and ending the ssh processes took 18.6 s.
        #expect(ContinuousClock.now - start < .seconds(45))
        #expect(channel.masterProcessID == nil)
    }
}

/// The real thing: a Debian 12 armhf guest under TCG, seeded, reached over SSH.
@Suite(.serialized) struct SSHEndToEndTests {
    static let directories = Directories.standard()

    static var imageBuilt: Bool {
        guard let profile = try? ProfileLoaderTests.catalog.load("debian12-armhf") else { return false }
        return ImageStore(root: directories.images).cached(profile) != nil
    }

    @Test(
        .enabled(if: imageBuilt, "no debian12-armhf image is built yet; run `vmtest image build debian12-armhf` first"),
        .timeLimit(.minutes(20)))
    func seededGuestAnswersOverSSH() async throws {
        let profile = try ProfileLoaderTests.catalog.load("debian12-armhf")
        let reporter = TimingReporter()
        let launcher = GuestLauncher(directories: Self.directories, reporter: reporter)
        let runID = GuestLauncher.newRunID()
        // The provisioning files live in a directory of the test's own, removed at the end.
        let runDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-ssh-\(runID)")
        defer { try? FileManager.default.removeItem(at: runDirectory) }
        let provisioner = Provisioner(
            templatesDirectory: CloudInitSeedTests.templates, directories: Self.directories, reporter: reporter)
        let prepared = try await provisioner.prepare(profile: profile, runID: runID, runDirectory: runDirectory)
        defer { prepared.release() }
        #expect((try FileManager.default.attributesOfItem(atPath: prepared.keyPair.privateKey.path)[.posixPermissions] as? Int) == 0o600)

        var options = prepared.launchOptions(LaunchOptions(readyTimeout: .seconds(600)))
        options.runID = runID
        let bootStart = ContinuousClock.now
        let pids = try await launcher.withGuest(profile, options: options) { guest -> [pid_t] in
            let qemu = processes(whoseCommandLineContains: "guest=\(guest.domainName)")
            #expect(!qemu.isEmpty, "no QEMU process found for \(guest.domainName)")

            let ssh = try await prepared.finish(guest: guest, cloudInitTimeout: .seconds(900))
            let finished = ContinuousClock.now
            let master = try #require(ssh.masterProcessID, "no ControlMaster process")
            do {
                let uname = try await ssh.run("uname -m", timeout: .seconds(120))
                let firstCommand = ContinuousClock.now - finished
                #expect(uname.exitStatus == 0)
                #expect(uname.standardOutput == "armv7l\n")

                let three = try await ssh.run("echo out; echo err >&2; exit 3", timeout: .seconds(60))
                #expect(three.exitStatus == 3)
                #expect(three.standardOutput == "out\n")
                #expect(three.standardError == "err\n")

                var perCommand: [Double] = []
                for _ in 0..<5 { perCommand.append(try await ssh.run("true", timeout: .seconds(60)).seconds) }

                let file = runDirectory.appendingPathComponent("payload.txt")
                let text = "payload \(runID)\nsecond line with 'quotes' and $dollars\n"
                try text.write(to: file, atomically: true, encoding: .utf8)
                let copyStart = ContinuousClock.now
                try await ssh.copy(local: file, toGuest: "/tmp/payload.txt")
                let copySeconds = (ContinuousClock.now - copyStart).seconds
                let back = try await ssh.run("cat /tmp/payload.txt", timeout: .seconds(60))
                #expect(back.exitStatus == 0)
                #expect(back.standardOutput == text)

                print(
                    """
                    ssh timings: boot-to-cloud-init-done \(String(format: "%.1f", (finished - bootStart).seconds)) s \
                    (phases: \(reporter.summary)); first command (uname) \(String(format: "%.2f", firstCommand.seconds)) s; \
                    per command over the master \(perCommand.map { String(format: "%.3f", $0) }.joined(separator: ", ")) s; \
                    scp \(String(format: "%.2f", copySeconds)) s
                    """)
            } catch {
                await ssh.close()
                throw error
            }
            await ssh.close()
            #expect(!isAlive(master), "the ssh ControlMaster \(master) outlived close()")
            #expect(!FileManager.default.fileExists(atPath: ssh.endpoint.controlPath.path))
            return qemu + [master]
        }
        // withGuest has destroyed the domain: nothing of ours may be left.
        for pid in pids {
            var gone = !isAlive(pid)
            for _ in 0..<50 where !gone {
                try await Task.sleep(for: .milliseconds(100))
                gone = !isAlive(pid)
            }
            #expect(gone, "process \(pid) outlived the run")
        }
    }
}

/// Records phase times for the timing line the end-to-end test prints.
final class TimingReporter: Reporter, Sendable {
    private let phases = Mutex<[(String, Double)]>([])

    func begin(_ phase: String, _ detail: String) {}
    func detail(_ phase: String, _ message: String) {}
    func end(_ phase: String, seconds: Double, _ detail: String) {
        phases.withLock { $0.append((phase, seconds)) }
    }
    func note(_ message: String) {}

    var summary: String {
        phases.withLock { $0.map { "\($0.0) \(String(format: "%.1f", $0.1)) s" }.joined(separator: ", ") }
    }
}

/// Processes whose command line contains `text` (QEMU's carries `guest=DOMAIN`).
func processes(whoseCommandLineContains text: String) -> [pid_t] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry -> pid_t? in
        guard let pid = pid_t(entry), let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
        let commandLine = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
        return commandLine.contains(text) ? pid : nil
    }
}

/// Whether a process exists and is not a zombie waiting to be reaped.
func isAlive(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return false }
    return !stat[stat.index(after: close)...].hasPrefix(" Z")
}
