import Foundation
import Testing

@testable import Libvirt

/// A daemon a child leaves behind, as libvirt leaves each QEMU, becomes this process's
/// child and is reaped when it ends; this process's own children are left to their waiter.
@Suite struct AdoptedDaemonsTests {
    /// Spawns `arguments` directly (Foundation's Process would wait for the pipes a
    /// daemon inherits) and waits for it; its wait status.
    static func spawnAndWait(_ arguments: [String]) -> Int32 {
        var argv = arguments.map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, arguments[0], nil, nil, &argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            guard errno == EINTR else { return -1 }
        }
        return status
    }

    @Test func aDaemonOfAChildIsAdoptedAndReapedWhenItEnds() async throws {
        #expect(AdoptedDaemons.areReaped)
        // sh starts a daemon (a session of its own, then sleep) and exits once the daemon
        // has written its PID: the daemon is then an orphan, as libvirt leaves each QEMU.
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-adopted-\(getpid()).pid")
        defer { try? FileManager.default.removeItem(at: pidFile) }
        let daemon = #"setsid sh -c 'echo $$ > "$0"; exec sleep 600' "$0" </dev/null >/dev/null 2>&1 &"#
        let started = Self.spawnAndWait(["/bin/sh", "-c", daemon + #" while [ ! -s "$0" ]; do :; done"#, pidFile.path])
        #expect(started == 0)
        let printed = try String(contentsOf: pidFile, encoding: .utf8)
        let pid = try #require(Int32(printed.trimmingCharacters(in: .whitespacesAndNewlines)))
        defer { kill(pid, SIGKILL) }
        let stat = try #require(ProcessStat(String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)))
        #expect(stat.parent == getpid(), "adopted, not init's")
        #expect(stat.session != getsid(0))

        kill(pid, SIGKILL)
        // Only this process can reap its child: unreaped, it would stay a zombie here.
        let deadline = ContinuousClock.now + .seconds(30)
        while FileManager.default.fileExists(atPath: "/proc/\(pid)"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        let left = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        #expect(left == nil, "still there: \(left ?? "")")
    }

    @Test func thisProcesssOwnChildrenKeepTheirExitStatusForTheirWaiter() {
        #expect(AdoptedDaemons.areReaped)
        // The reaper wakes at each of these ends; had it reaped one, its waitpid would fail.
        for _ in 0..<20 {
            let status = Self.spawnAndWait(["/bin/sh", "-c", "exit 3"])
            #expect(status != -1 && (status >> 8) & 0xff == 3, "wait status \(status)")
        }
    }

    /// What libvirt does to start each QEMU: a fork that leaves the session and ends at
    /// once, waited for by the thread that forked it. It ran no program, so it is not a
    /// daemon: its exit status stays its waiter's.
    @Test func aForkThatLeavesTheSessionIsLeftToTheThreadThatWaitsForIt() {
        #expect(AdoptedDaemons.areReaped)
        for _ in 0..<50 {
            let pid = fork()
            if pid == 0 {
                setsid()
                _exit(7)
            }
            var status: Int32 = 0
            var waited: pid_t
            repeat { waited = waitpid(pid, &status, 0) } while waited == -1 && errno == EINTR
            #expect(waited == pid && (status >> 8) & 0xff == 7, "waitpid gave \(waited) (errno \(errno))")
        }
    }

    @Test func theStatFieldsAreCountedFromTheCommandNamesEnd() {
        let stat = ProcessStat("4242 (qemu (x) y) Z 17 4242 4242 0 -1 4194560 0 0 0 0")
        #expect(stat?.state == "Z" && stat?.parent == 17 && stat?.session == 4242)
        #expect(ProcessStat("garbage") == nil)
    }
}
