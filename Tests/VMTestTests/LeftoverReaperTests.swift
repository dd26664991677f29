import Foundation
import Testing

@testable import VMTest

@Suite struct LeftoverReaperTests {
    /// A PID that certainly belonged to a process that has exited.
    static func deadPID() throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }

    static func directories() throws -> Directories {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-reaper-\(UUID().uuidString)")
        let directories = Directories(cache: root.appendingPathComponent("cache"), state: root.appendingPathComponent("state"))
        try FileManager.default.createDirectory(at: directories.runs, withIntermediateDirectories: true)
        return directories
    }

    static func makeRun(_ id: String, owner: Int32, kept: Bool = false, in directories: Directories) throws -> URL {
        let run = directories.runs.appendingPathComponent(id)
        try FileManager.default.createDirectory(at: run, withIntermediateDirectories: true)
        try String(owner).write(to: run.appendingPathComponent(LeftoverReaper.ownerFile), atomically: true, encoding: .utf8)
        try Data("overlay".utf8).write(to: run.appendingPathComponent("overlay.qcow2"))
        if kept { try Data().write(to: run.appendingPathComponent(LeftoverReaper.keptFile)) }
        return run
    }

    @Test func removesRunsOfDeadOwnersOnly() async throws {
        let directories = try Self.directories()
        let dead = try Self.makeRun("dead", owner: try Self.deadPID(), in: directories)
        let live = try Self.makeRun("live", owner: getpid(), in: directories)
        let reaped = await LeftoverReaper(directories: directories).reap()
        #expect(reaped.runs == ["dead"])
        #expect(!FileManager.default.fileExists(atPath: dead.path))
        #expect(FileManager.default.fileExists(atPath: live.path))
    }

    @Test func sparesKeptGuestsUnlessAsked() async throws {
        let directories = try Self.directories()
        let kept = try Self.makeRun("kept", owner: try Self.deadPID(), kept: true, in: directories)
        #expect(await LeftoverReaper(directories: directories).reap().runs.isEmpty)
        #expect(FileManager.default.fileExists(atPath: kept.path))
        #expect(await LeftoverReaper(directories: directories).reap(includingKept: true).runs == ["kept"])
        #expect(!FileManager.default.fileExists(atPath: kept.path))
    }

    @Test func removesEmbeddedRootsOfDeadProcesses() async throws {
        let directories = try Self.directories()
        let deadRoot = directories.state.appendingPathComponent("libvirt/\(try Self.deadPID())")
        let liveRoot = directories.state.appendingPathComponent("libvirt/\(getpid())")
        for root in [deadRoot, liveRoot] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent("run/qemu"), withIntermediateDirectories: true)
        }
        let reaped = await LeftoverReaper(directories: directories).reap()
        #expect(reaped.embeddedRoots == [deadRoot.path])
        #expect(FileManager.default.fileExists(atPath: liveRoot.path))
    }

    @Test func readsTheOwnerFromDomainMetadata() {
        let xml = "<vmtest:run xmlns:vmtest='x' id='r' profile='p' owner-pid='4242' host='builder'/>"
        #expect(LeftoverReaper.attribute("owner-pid", in: xml) == "4242")
        #expect(LeftoverReaper.attribute("host", in: xml) == "builder")
        #expect(LeftoverReaper.attribute("missing", in: xml) == nil)
    }
}
