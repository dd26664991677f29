internal import CLibvirt
import Foundation

/// The daemons this process's descendants leave behind (each QEMU of libvirt's embedded
/// driver), adopted by this process and reaped as soon as they end.
///
/// libvirt starts a QEMU as a daemon: it forks twice and the QEMU leads a session of its
/// own, so its parent is the machine's init. `virDomainDestroy`, like a save, returns
/// only once the process is gone, that is once it is reaped, so where init reaps late
/// every teardown waits for it: this machine's PID 1 reaps about once a second (1.2 s of
/// a 1.4 s teardown), and a container's PID 1 may never reap at all. As Linux's child
/// subreaper this process becomes the parent of what its descendants daemonize, and one
/// thread of its own reaps them.
///
/// It reaps only daemons: ended children in a session other than this process's that
/// ran a program of their own. The children this process starts itself (Subprocess's,
/// libvirt's helpers) stay in its session, and the one libvirt forks to start a daemon
/// (which leaves the session, forks the daemon and ends without running anything) still
/// has the name of the thread that forked it: each is left to whoever waits for it, as
/// reaping it would take its exit status from its owner (libvirt then fails to start the
/// guest: "unable to wait for process: No child processes").
enum AdoptedDaemons {
    /// Whether this process adopts and reaps daemons; set up once, on first use.
    static let areReaped: Bool = {
        guard vmtest_become_child_subreaper() == 0 else { return false }
        let reaper = Thread { reapForever() }
        reaper.name = "vmtest-reaper"
        reaper.start()
        return true
    }()

    private static func reapForever() {
        let session = getsid(0)
        while true {
            let ended = vmtest_await_ended_child()
            if ended == 0 {
                // No child at all: nothing can end before the next one starts.
                usleep(100_000)
                continue
            }
            guard ended > 0 else { continue }
            if isDaemon(ended, outside: session) {
                var status: Int32 = 0
                _ = waitpid(ended, &status, WNOHANG)
                continue
            }
            // The child that ended is someone else's to reap, and until it is, waiting
            // again would name it again: daemons that end meanwhile are found in /proc.
            if reapEndedDaemons(outside: session) == 0 { usleep(20_000) }
        }
    }

    /// Whether the ended child `pid` is a daemon: in a session other than `session`, and
    /// not named as one of this process's threads (a fork that ran no program of its own).
    private static func isDaemon(_ pid: pid_t, outside session: pid_t) -> Bool {
        guard getsid(pid) != session, let name = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else {
            return false
        }
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return !threads.contains { (try? String(contentsOfFile: "/proc/self/task/\($0)/comm", encoding: .utf8)) == name }
    }

    /// Reaps every ended daemon this process adopted; returns how many.
    private static func reapEndedDaemons(outside session: pid_t) -> Int {
        let me = getpid()
        var reaped = 0
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry),
                let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let fields = ProcessStat(stat), fields.state == "Z", fields.parent == me, isDaemon(pid, outside: session)
            else { continue }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid { reaped += 1 }
        }
        return reaped
    }
}

/// The fields of `/proc/PID/stat` the reaper reads. The command name before them is in
/// parentheses and may hold spaces, so they are counted from its closing parenthesis.
struct ProcessStat: Equatable {
    var state: Character
    var parent: pid_t
    var session: pid_t

    init?(_ line: String) {
        guard let close = line.lastIndex(of: ")") else { return nil }
        let fields = line[line.index(after: close)...].split(separator: " ")
        // state, ppid, pgrp, session
        guard fields.count > 3, let state = fields[0].first, let parent = pid_t(fields[1]), let session = pid_t(fields[3]) else {
            return nil
        }
        self.state = state
        self.parent = parent
        self.session = session
    }
}
