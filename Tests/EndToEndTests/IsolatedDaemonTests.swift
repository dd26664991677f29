import Foundation
import Libvirt
import Synchronization
import Testing

@testable import VMTest

/// vmtest against a libvirtd that sees none of this machine's files, as a hypervisor in a
/// data centre does: `script/libvirtd start isolated` runs it in a mount namespace with
/// empty file systems over vmtest's directories and /tmp (script/test starts it before
/// these tests and stops it after). Everything a run needs travels through libvirt (#12).
@Suite(.serialized, .timeLimit(.minutes(30))) struct IsolatedDaemonTests {
    static let uri = "qemu+tcp://127.0.0.1:16510/system"
    /// Where `script/libvirtd start isolated` writes the daemon's PID.
    static let pidFile = "/var/lib/vmtest-isolated-libvirtd/libvirtd.pid"

    static func connection() async throws -> Connection {
        do {
            return try await Connection.open(uri: uri)
        } catch {
            Issue.record("nothing answers on \(uri): start it with script/libvirtd start isolated")
            throw error
        }
    }

    /// The names of the volumes in vmtest's pool there (none when it has no pool yet).
    static func volumes() async throws -> [String] {
        guard let pool = try await connection().storagePool(named: HypervisorStorage.name) else { return [] }
        try await pool.refresh()
        return try await pool.volumeNames().sorted()
    }

    static func domains() async throws -> [String] {
        try await connection().domains().map(\.name)
    }

    /// `script/libvirtd COMMAND isolated`, whose exit status must be 0. Spawned and waited
    /// for by its PID on a thread of its own: Foundation's `Process` missed this script's
    /// end (it stayed a zombie) after the test had killed the daemon it started.
    static func daemon(_ command: String) async throws {
        let script = EndToEnd.repository.appendingPathComponent("script/libvirtd").path
        let status = await withCheckedContinuation { (continuation: CheckedContinuation<Int32, Never>) in
            Thread {
                var pid: pid_t = 0
                let arguments = [script, command, "isolated"]
                var argv = arguments.map { strdup($0) } + [nil]
                defer { for argument in argv { free(argument) } }
                guard posix_spawn(&pid, script, nil, nil, &argv, environ) == 0 else { return continuation.resume(returning: -1) }
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                continuation.resume(returning: status)
            }.start()
        }
        #expect(status == 0, "script/libvirtd \(command) isolated failed (wait status \(status))")
    }

    /// The volumes every later run on the hypervisor shares: base images, boot files and
    /// the published saved guests.
    static func isShared(_ volume: String) -> Bool {
        volume.hasPrefix("base-") || volume.hasPrefix("boot-") || volume.hasPrefix("warm-")
    }

    /// Nothing of a run is left on the hypervisor: no domain, no volume but the shared
    /// ones, no QEMU, no run directory here.
    static func expectNothingLeft(of runID: String) async throws {
        #expect(try await domains().isEmpty, "domains left on \(uri)")
        let left = try await volumes().filter { !isShared($0) }
        #expect(left.isEmpty, "volumes left on \(uri): \(left)")
        #expect(EndToEnd.qemuProcesses(forDomain: "vmtest-\(runID)").isEmpty, "QEMU of vmtest-\(runID) outlived the run")
        #expect(!FileManager.default.fileExists(atPath: EndToEnd.directories.runs.appendingPathComponent(runID).path))
    }

    @Test func theProbeTellsWhichDaemonSeesThisMachinesFiles() async throws {
        let isolated = try await Self.connection()
        #expect(await FileSharing.probe(isolated, uri: Self.uri, directories: EndToEnd.directories) == .separate)
        let shared = try await Connection.open(uri: DaemonTests.uri)
        #expect(await FileSharing.probe(shared, uri: DaemonTests.uri, directories: EndToEnd.directories) == .shared)
    }

    /// The first run on a new hypervisor uploads the base image and boot files and saves
    /// the ready guest there; the next restores that guest there and uploads only its own
    /// small files. Both leave nothing but the shared volumes.
    @Test func runsUploadWhatTheHypervisorLacksOnceAndRestoreTheGuestSavedThere() async throws {
        _ = try await EndToEnd.debianProfile()
        let packages = try await RunTests.examplePackages()
        let hello = try #require(packages["vmtest-hello"])
        // A new hypervisor: vmtest's pool there holds nothing.
        if let pool = try await Self.connection().storagePool(named: HypervisorStorage.name) {
            for name in try await pool.volumeNames() { try await pool.volume(named: name)?.delete() }
        }

        let first = RunTests.results("isolated-first")
        let run = try await EndToEnd.vmtest([
            "run", "debian12-armhf", "--connect", Self.uri, "--rpm", hello, "--test", "uname -m | grep -x armv7l",
            "--results", first.path,
        ])
        #expect(run.status == 0, "stderr: \(run.error)")
        let summary = try RunTests.summary(in: first)
        #expect(summary.verdict == "passed")
        #expect(run.error.contains("upload: base-"), "the first run uploads the base image; stderr: \(run.error)")
        #expect(run.error.contains("saving the ready guest"), "the first run saves the guest there; stderr: \(run.error)")
        #expect(run.error.contains("-payload.img"), "the RPM travels on an uploaded payload disk; stderr: \(run.error)")
        let console = try String(contentsOf: first.appendingPathComponent("console.log"), encoding: .utf8)
        #expect(console.contains("Booting Linux"), "the console log comes back from the hypervisor: the boot before the save")
        #expect(console.contains("[vmtest: restored from saved state"), "and the restored run")
        try await Self.expectNothingLeft(of: try DaemonTests.summary(in: first).runID)
        let shared = try await Self.volumes()
        #expect(shared.filter { $0.hasPrefix("base-") }.count == 2, "the base and its completion mark: \(shared)")
        #expect(shared.filter { $0.hasPrefix("warm-") && $0.hasSuffix(".manifest") }.count == 1, "one saved guest: \(shared)")

        let second = RunTests.results("isolated-second")
        let again = try await EndToEnd.vmtest([
            "run", "debian12-armhf", "--connect", Self.uri, "--rpm", hello, "--test", "uname -m | grep -x armv7l",
            "--results", second.path,
        ])
        #expect(again.status == 0, "stderr: \(again.error)")
        let restored = try DaemonTests.summary(in: second)
        #expect(try RunTests.summary(in: second).warmState != nil, "the second run restores the guest saved there; stderr: \(again.error)")
        #expect(!again.error.contains("saving the ready guest"), "stderr: \(again.error)")
        let uploads = again.error.split(separator: "\n").filter { $0.contains("upload: ") }
        #expect(
            uploads.allSatisfy { $0.contains("upload: run-\(restored.runID)-") },
            "only the run's own files are uploaded: \(uploads)")
        try await Self.expectNothingLeft(of: restored.runID)
        #expect(try await Self.volumes() == shared)

        // Reached over SSH, as a hypervisor on another machine is, the SSH channel goes
        // through it to the guest's port forwarded on its loopback.
        let uri = try Self.sshURI()
        let sshLog = "/var/lib/vmtest-isolated-libvirtd/ssh/sshd.log"
        let ssh = RunTests.results("isolated-ssh")
        let cold = try await EndToEnd.vmtest([
            "run", "debian12-armhf", "--connect", uri, "--cold", "--channel", "ssh", "--test", "uname -m | grep -x armv7l",
            "--results", ssh.path,
        ])
        #expect(cold.status == 0, "stderr: \(cold.error)")
        #expect(cold.error.contains("-disk1-seed.iso"), "the run's own seed is uploaded; stderr: \(cold.error)")
        let port = try #require(cold.error.firstMatch(of: /127\.0\.0\.1:([0-9]+) -> guest :22/)?.1, "stderr: \(cold.error)")
        let forwarded = try String(contentsOfFile: sshLog, encoding: .utf8)
        #expect(forwarded.contains("target 127.0.0.1 port \(port)"), "the hypervisor's sshd carried the channel; its log: \(sshLog)")
        try await Self.expectNothingLeft(of: try DaemonTests.summary(in: ssh).runID)
        #expect(try await Self.volumes() == shared)
    }

    /// The isolated daemon's `qemu+ssh://` URI, naming this machine by an address vmtest
    /// takes for another machine's (`script/libvirtd start isolated` writes it).
    static func sshURI() throws -> String {
        let file = "/var/lib/vmtest-isolated-libvirtd/ssh/uri"
        guard let uri = try? String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) else {
            Issue.record("no \(file): start the daemon with script/libvirtd start isolated")
            throw CocoaError(.fileNoSuchFile)
        }
        return uri
    }

    /// A hypervisor that goes away mid-run ends the run at once with exit status 3 naming
    /// it; once it is back, `vmtest clean --connect` removes the guest and volumes left.
    @Test func aHypervisorLostMidRunEndsItAndCleanRemovesWhatItLeft() async throws {
        _ = try await EndToEnd.debianProfile()
        let results = RunTests.results("isolated-lost")
        let stopped = Mutex<ContinuousClock.Instant?>(nil)
        let run = try await EndToEnd.vmtest(
            ["run", "debian12-armhf", "--connect", Self.uri, "--test", "sleep 600", "--results", results.path],
            whenPrinted: (
                "test: command 1: sleep 600",
                {
                    // SIGTERM, as `script/libvirtd stop` sends it; that waits for the daemon's end below.
                    let pid = (try? String(contentsOfFile: Self.pidFile, encoding: .utf8)).flatMap {
                        Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
                    }
                    stopped.withLock { $0 = .now }
                    if let pid { kill(pid, SIGTERM) }
                }
            ))
        let ended = ContinuousClock.now
        let stop = try #require(stopped.withLock { $0 }, "the run never reached its test; stderr: \(run.error)")
        #expect(run.status == 3, "stderr: \(run.error)")
        #expect(run.error.contains("lost the hypervisor at \(Self.uri)"), "stderr: \(run.error)")
        #expect(ended - stop < .seconds(30), "the run went on for \(ended - stop) after its hypervisor went away")

        try await Self.daemon("stop")
        try await Self.daemon("start")
        let name = "vmtest-\(try DaemonTests.summary(in: results).runID)"
        #expect(try await Self.domains() == [name], "the guest outlived its daemon, as QEMU does")
        let clean = try await EndToEnd.vmtest(["clean", "--connect", Self.uri])
        #expect(clean.status == 0, "stderr: \(clean.error)")
        #expect(clean.output.contains("destroyed 1 domain(s)"), "output: \(clean.output)")
        try await Self.expectNothingLeft(of: String(name.dropFirst("vmtest-".count)))
    }

    /// A hypervisor that goes away during a night: its set is tried again on another one,
    /// and no later run goes there. Once it is back, `vmtest clean` removes what was left.
    @Test func aNightGivesUpAHypervisorLostMidRunAndRunsTheSetElsewhere() async throws {
        _ = try await EndToEnd.debianProfile()
        let hello = try #require(try await RunTests.examplePackages()["vmtest-hello"])
        let folder = RunTests.results("isolated-night-lost")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let plan = folder.appendingPathComponent("night.yaml")
        try """
        profiles: [debian12-armhf]
        packages:
          - {name: slow, rpms: [\(hello)]}
        tests: ["sleep 20", "uname -m | grep -x armv7l"]
        hypervisors:
          - {uri: "\(Self.uri)", capacity: 1}
          - {uri: embedded, capacity: 1}
        """.write(to: plan, atomically: true, encoding: .utf8)
        let results = folder.appendingPathComponent("results")
        let night = try await EndToEnd.vmtest(
            ["nightly", plan.path, "--parallel", "1", "--results", results.path],
            whenPrinted: (
                "start debian12-armhf × slow on \(Self.uri)",
                {
                    // Some seconds into the run there (its guest restored or booting), the
                    // daemon goes: SIGTERM, as `script/libvirtd stop` sends it.
                    Thread {
                        Thread.sleep(forTimeInterval: 12)
                        let pid = (try? String(contentsOfFile: Self.pidFile, encoding: .utf8)).flatMap {
                            Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
                        }
                        if let pid { kill(pid, SIGTERM) }
                    }.start()
                }
            ))
        #expect(night.status == 0, "stderr: \(night.error)")
        let report = try NightlyEndToEndTests.report(in: results)
        let run = try #require(report.runs.first)
        #expect(run.verdict == .passed)
        #expect(run.attempts.map(\.hypervisor) == [Self.uri, "embedded"], "\(run.attempts)")
        #expect(run.attempts.first?.verdict == .infrastructure)
        let lost = try #require(report.hypervisors.first { $0.uri == Self.uri })
        #expect(lost.unavailable != nil, "the lost hypervisor is given up for the night: \(report.hypervisors)")

        try await Self.daemon("stop")
        try await Self.daemon("start")
        let clean = try await EndToEnd.vmtest(["clean", "--connect", Self.uri])
        #expect(clean.status == 0, "stderr: \(clean.error)")
        try await Self.expectNothingLeft(of: try #require(run.attempts.first).runID)
    }

    /// A night over the embedded driver and the isolated daemon: each runs a set.
    @Test func aNightOverTheEmbeddedDriverAndTheIsolatedDaemon() async throws {
        _ = try await EndToEnd.debianProfile()
        let hello = try #require(try await RunTests.examplePackages()["vmtest-hello"])
        let folder = RunTests.results("isolated-nightly")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let plan = folder.appendingPathComponent("night.yaml")
        try """
        profiles: [debian12-armhf]
        packages:
          - \(hello)
          - {name: hello-twice, rpms: [\(hello)]}
        tests: ["uname -m | grep -x armv7l"]
        hypervisors:
          - {uri: embedded, capacity: 1}
          - {uri: "\(Self.uri)", capacity: 1}
        """.write(to: plan, atomically: true, encoding: .utf8)
        let results = folder.appendingPathComponent("results")
        let night = try await EndToEnd.vmtest(["nightly", plan.path, "--parallel", "2", "--results", results.path])
        #expect(night.status == 0, "stderr: \(night.error)")
        let report = try NightlyEndToEndTests.report(in: results)
        #expect(report.runs.map(\.verdict) == [.passed, .passed])
        let byURI = Dictionary(uniqueKeysWithValues: report.hypervisors.map { ($0.uri, $0) })
        #expect(byURI["embedded"]?.attempts == 1 && byURI[Self.uri]?.attempts == 1, "\(report.hypervisors)")
        for run in report.runs { try await Self.expectNothingLeft(of: try #require(run.attempts.last).runID) }
    }
}
