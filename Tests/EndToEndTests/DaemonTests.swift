import Foundation
import Testing

@testable import VMTest

/// vmtest against a real libvirtd reached over TCP on loopback, the daemon that
/// `script/libvirtd start` runs (script/test starts it before the tests, stops it after).
@Suite(.serialized, .timeLimit(.minutes(20))) struct DaemonTests {
    static let uri = "qemu+tcp://127.0.0.1/system"

    struct Summary: Decodable {
        struct Host: Decodable { var connection: String }
        var runID: String
        var verdict: String
        var channel: String
        var host: Host
        var infrastructureError: String?
    }

    static func summary(in directory: URL) throws -> Summary {
        try JSONDecoder().decode(Summary.self, from: Data(contentsOf: directory.appendingPathComponent("summary.json")))
    }

    /// `virsh -c URI ARGUMENTS...`: its exit status and standard output.
    static func virsh(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        try await EndToEnd.command(URL(fileURLWithPath: "/usr/bin/virsh"), ["-c", uri] + arguments)
    }

    /// The daemon's domains, running or not.
    static func domains() async throws -> [String] {
        let list = try await virsh(["list", "--all", "--name"])
        try #require(list.status == 0, "nothing answers on \(uri): start it with script/libvirtd start")
        return list.output.split(separator: "\n").map(String.init)
    }

    @Test(arguments: ["serial", "ssh"])
    func aRunThroughTheDaemonLeavesNothingOnIt(channel: String) async throws {
        _ = try await EndToEnd.debianProfile()
        _ = try await Self.domains()
        let results = RunTests.results("daemon-\(channel)")
        let run = try await EndToEnd.vmtest([
            "run", "debian12-armhf", "--connect", Self.uri, "--test", "uname -m | grep -x armv7l", "--channel", channel,
            "--results", results.path,
        ])
        #expect(run.status == 0, "stderr: \(run.error)")
        let summary = try Self.summary(in: results)
        #expect(summary.verdict == "passed")
        #expect(summary.channel == channel)
        #expect(summary.host.connection == Self.uri)

        let name = "vmtest-\(summary.runID)"
        #expect(run.error.contains(name), "the run names its domain; stderr: \(run.error)")
        #expect(try await !Self.domains().contains(name), "the daemon still has \(name)")
        #expect(EndToEnd.qemuProcesses(forDomain: name).isEmpty, "QEMU of \(name) outlived the run")
        #expect(!FileManager.default.fileExists(atPath: EndToEnd.directories.runs.appendingPathComponent(summary.runID).path))
    }

    @Test func bootThroughTheDaemon() async throws {
        _ = try await EndToEnd.debianProfile()
        let boot = try await EndToEnd.vmtest(["boot", "debian12-armhf", "--connect", Self.uri, "--", "uname", "-m"])
        #expect(boot.status == 0, "stderr: \(boot.error)")
        #expect(boot.output == "armv7l\n")
        let name = String(try #require(boot.error.firstMatch(of: /(?:starting|restoring) (vmtest-[0-9a-z-]+)/)?.1))
        #expect(try await !Self.domains().contains(name), "the daemon still has \(name)")
        #expect(EndToEnd.qemuProcesses(forDomain: name).isEmpty, "QEMU of \(name) outlived the boot")
    }

    @Test func aKeptGuestStaysOnTheDaemonUntilCleanKept() async throws {
        _ = try await EndToEnd.debianProfile()
        let results = RunTests.results("daemon-kept")
        let run = try await EndToEnd.vmtest([
            "run", "debian12-armhf", "--connect", Self.uri, "--test", "false", "--keep", "--results", results.path,
        ])
        #expect(run.status == 1, "stderr: \(run.error)")
        let name = String(try #require(run.error.firstMatch(of: /kept (vmtest-[0-9a-z-]+) running/)?.1))
        #expect(run.error.contains("virsh -c '\(Self.uri)' console \(name)"), "stderr: \(run.error)")
        #expect(try await Self.virsh(["domstate", name]).output.contains("running"))

        #expect(try await EndToEnd.vmtest(["clean", "--connect", Self.uri]).status == 0)
        #expect(try await Self.domains().contains(name), "clean removed a kept guest")
        let cleaned = try await EndToEnd.vmtest(["clean", "--kept", "--connect", Self.uri])
        #expect(cleaned.status == 0, "stderr: \(cleaned.error)")
        #expect(try await !Self.domains().contains(name), "clean --kept left \(name) on the daemon")
        try await Task.sleep(for: .milliseconds(500))
        #expect(EndToEnd.qemuProcesses(forDomain: name).isEmpty, "QEMU of \(name) outlived clean --kept")
    }

    @Test func aDaemonThatRefusesConnectionsIsAnInfrastructureFailureNamingTheURI() async throws {
        _ = try await EndToEnd.debianProfile()
        let refusing = "qemu+tcp://127.0.0.1:1/system"
        let results = RunTests.results("daemon-refused")
        let started = ContinuousClock.now
        let run = try await EndToEnd.vmtest(["run", "debian12-armhf", "--connect", refusing, "--test", "true", "--results", results.path])
        #expect(run.status == 3, "stderr: \(run.error)")
        #expect(ContinuousClock.now - started < .seconds(30), "failing to connect should not wait for anything")
        #expect(!run.error.contains("boot: starting"), "something booted")
        #expect(
            (run.output + run.error).contains("cannot connect to libvirt at \(refusing)"), "stdout: \(run.output)\nstderr: \(run.error)")
        let summary = try Self.summary(in: results)
        #expect(summary.verdict == "error")
        #expect(summary.infrastructureError?.contains(refusing) == true)

        let boot = try await EndToEnd.vmtest(["boot", "debian12-armhf", "--connect", refusing, "--", "true"])
        #expect(boot.status == 3, "stderr: \(boot.error)")
        #expect(boot.error.contains("cannot connect to libvirt at \(refusing)"), "stderr: \(boot.error)")
    }
}
