import Foundation
import Libvirt
import Synchronization
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

    /// libvirt's storage API as a remote hypervisor needs it (#12): a directory pool of the
    /// test's own, a file uploaded into a volume over the connection and downloaded back
    /// byte for byte, a qcow2 overlay volume backed by it; then nothing left.
    @Test func aFileTravelsIntoAPoolVolumeAndBackOverTheConnection() async throws {
        _ = try await Self.domains()
        let connection = try await Connection.open(uri: Self.uri)
        let name = "vmtest-test-\(getpid())"
        let directory = "/var/tmp/\(name)"  // on the daemon's machine: this one
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try await connection.storagePool(named: name) == nil)
        let pool = try await connection.definePool(
            xml: "<pool type='dir'><name>\(name)</name><target><path>\(directory)</path></target></pool>")
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-files")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }

        // Three chunks and a short one; whole KiB, as libvirt gives qemu-img sizes.
        let bytes = (0..<(3 * StorageVolume.chunkSize + 4096)).map { _ in UInt8.random(in: 0...255) }
        let file = work.appendingPathComponent("base.raw")
        try Data(bytes).write(to: file)
        let base = try await pool.createVolume(
            xml: """
                <volume><name>base.raw</name><capacity unit='bytes'>\(bytes.count)</capacity>\
                <target><format type='raw'/></target></volume>
                """)
        let reports = Mutex<[Int64]>([])
        let sent = try await base.upload(from: file) { sent in reports.withLock { $0.append(sent) } }
        #expect(sent == Int64(bytes.count))
        let chunk = Int64(StorageVolume.chunkSize)
        let expected: [Int64] = [chunk, 2 * chunk, 3 * chunk, Int64(bytes.count)]
        #expect(reports.withLock { $0 } == expected, "progress after every chunk")
        #expect(try await base.sizes().capacity == UInt64(bytes.count))
        let path = try await base.path()
        #expect(path == "\(directory)/base.raw")

        let back = work.appendingPathComponent("back.raw")
        #expect(try await base.download(to: back) == Int64(bytes.count))
        #expect(try Data(contentsOf: back) == Data(bytes), "the download is the upload, byte for byte")

        let overlay = try await pool.createVolume(
            xml: """
                <volume><name>overlay.qcow2</name><capacity unit='bytes'>\(bytes.count)</capacity>\
                <target><format type='qcow2'/></target>\
                <backingStore><path>\(path)</path><format type='raw'/></backingStore></volume>
                """)
        #expect(try await overlay.sizes().capacity == UInt64(bytes.count))
        #expect(try await pool.volumeNames().sorted() == ["base.raw", "overlay.qcow2"])
        #expect(try await pool.volume(named: "overlay.qcow2")?.name == "overlay.qcow2")
        #expect(try await pool.volume(named: "nonexistent") == nil)

        try await overlay.delete()
        try await base.delete()
        #expect(try await pool.volumeNames().isEmpty)
        try await pool.stopAndUndefine()
        #expect(try await connection.storagePool(named: name) == nil)
    }

    /// A base image goes to a hypervisor once (#12): uploaded into vmtest's pool with its
    /// completion mark, then reused; a base whose mark is missing, as an upload cut short
    /// leaves it, is uploaded again.
    @Test func aBaseImageIsUploadedOnceAndOneCutShortNeverPassesForABase() async throws {
        _ = try await Self.domains()
        let connection = try await Connection.open(uri: Self.uri)
        #expect(try await connection.storagePool(named: HypervisorStorage.name) == nil, "the test daemon has no vmtest pool yet")
        let directory = "/var/tmp/vmtest-pool-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let storage = try await HypervisorStorage.open(on: connection, path: directory)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-base-\(getpid())")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let disk = work.appendingPathComponent("disk.qcow2")
        let made = try await EndToEnd.command(
            URL(fileURLWithPath: "/usr/bin/qemu-img"), ["create", "-q", "-f", "qcow2", disk.path, "64M"])
        #expect(made.status == 0)
        let sha256 = try await SHA256Sum.of(file: disk)
        let bases = BaseVolumes(storage: storage)

        let (first, uploaded) = try await bases.base(sha256: sha256, file: disk, reporter: SilentReporter())
        guard case .uploaded(let bytes, _) = uploaded else {
            Issue.record("the first request did not upload: \(uploaded)")
            return
        }
        #expect(bytes == ImageFetcher.size(of: disk))
        #expect(try await first.path() == "\(directory)/base-\(sha256).qcow2")
        #expect(try Data(contentsOf: URL(fileURLWithPath: try await first.path())) == Data(contentsOf: disk))

        let (_, again) = try await bases.base(sha256: sha256, file: disk, reporter: SilentReporter())
        #expect(again == .reused)

        // What an upload cut short leaves: the base without its mark.
        try await #require(try await storage.pool.volume(named: "base-\(sha256).complete")).delete()
        let (_, redone) = try await bases.base(sha256: sha256, file: disk, reporter: SilentReporter())
        #expect(redone != .reused, "a base without its completion mark is uploaded again")
        #expect(try await storage.pool.volumeNames().sorted() == ["base-\(sha256).complete", "base-\(sha256).qcow2"])

        for name in try await storage.pool.volumeNames() { try await storage.pool.volume(named: name)?.delete() }
        try await storage.pool.stopAndUndefine()
    }

    /// A file the pool has no room for fails before any volume is made (#12): the run's
    /// error says how much is free and what needed more, and nothing half written is left.
    @Test func aFileThePoolHasNoRoomForFailsBeforeAnyVolumeIsMade() async throws {
        _ = try await Self.domains()
        let connection = try await Connection.open(uri: Self.uri)
        let directory = "/var/tmp/vmtest-full-pool-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let storage = try await HypervisorStorage.open(on: connection, path: directory)
        // Larger than any disk here (8 TiB), and sparse: it takes no room on this machine.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-huge-\(getpid()).qcow2")
        defer { try? FileManager.default.removeItem(at: file) }
        let sha256 = String(repeating: "0", count: 64)
        var error: HypervisorPoolFullError?
        do {
            #expect(FileManager.default.createFile(atPath: file.path, contents: nil))
            let handle = try FileHandle(forWritingTo: file)
            try handle.truncate(atOffset: 1 << 43)
            try handle.close()
            error = await #expect(throws: HypervisorPoolFullError.self) {
                _ = try await BaseVolumes(storage: storage).base(sha256: sha256, file: file, reporter: SilentReporter())
            }
            #expect(try await storage.pool.volumeNames().isEmpty, "no volume is left half written")
        } catch {
            Issue.record(error)
        }
        // The pool goes whatever happened: the other tests expect the daemon to have none.
        try await storage.pool.stopAndUndefine()
        #expect(error?.uri == Self.uri)
        #expect(error?.description.contains("needs 8192.00 GiB") == true, "\(String(describing: error))")
    }
}
