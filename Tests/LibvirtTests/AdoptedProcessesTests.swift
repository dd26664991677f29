import Foundation
import Testing

@testable import Libvirt

/// A daemon that this process's child leaves behind, as libvirt leaves each QEMU, becomes
/// this process's child and is reaped when it exits: init never gets it.
@Suite struct AdoptedProcessesTests {
    @Test func aDaemonOfAChildIsAdoptedAndReapedWhenItExits() async throws {
        #expect(AdoptedProcesses.areAdopted)
        // sh starts sleep in the background and exits: sleep is then an orphan, as a daemon is.
        // (Spawned directly: Foundation's Process would wait for the socket sleep inherits.)
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-adopted-\(getpid()).pid")
        defer { try? FileManager.default.removeItem(at: pidFile) }
        let arguments = ["/bin/sh", "-c", "sleep 600 </dev/null >/dev/null 2>&1 & echo $! > \"$0\"", pidFile.path]
        var argv = arguments.map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var shell: pid_t = 0
        #expect(posix_spawn(&shell, "/bin/sh", nil, nil, &argv, environ) == 0)
        var status: Int32 = 0
        #expect(waitpid(shell, &status, 0) == shell)
        let printed = try String(contentsOf: pidFile, encoding: .utf8)
        let pid = try #require(Int32(printed.trimmingCharacters(in: .whitespacesAndNewlines)))
        defer { kill(pid, SIGKILL) }
        #expect(Self.parent(of: pid) == getpid(), "adopted, not init's")

        AdoptedProcesses.reapWhenItExits(pid)
        kill(pid, SIGKILL)  // this test process ignores SIGTERM, and so do its children
        // Only this process can reap its child: unreaped, it would stay a zombie here.
        let deadline = ContinuousClock.now + .seconds(30)
        while FileManager.default.fileExists(atPath: "/proc/\(pid)"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(!FileManager.default.fileExists(atPath: "/proc/\(pid)"), "still there: \(Self.state(of: pid) ?? "?")")
    }

    /// The parent PID from `/proc/PID/stat` (the fourth field; the command name before it
    /// is in parentheses and may hold spaces).
    static func parent(of pid: Int32) -> Int32? {
        guard let stat = state(of: pid), let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? Int32(fields[1]) : nil
    }

    static func state(of pid: Int32) -> String? {
        try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
    }
}
