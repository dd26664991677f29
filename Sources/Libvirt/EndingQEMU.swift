internal import CLibvirt
import Foundation

/// A QEMU of libvirt's embedded driver, ended by this process just before
/// `virDomainDestroy` so that the destroy finds it gone.
///
/// libvirt's destroy sends QEMU SIGTERM and then sleeps 200 ms before it looks again
/// (`virProcessKillPainfully`): 0.21 s of every teardown, against a warm run of about
/// 3 s here. It looks at once, and does not sleep, if the process is already gone: ended
/// and reaped (``AdoptedDaemons``). Ending QEMU first is not enough by itself: QEMU closes
/// its monitor as it exits, and libvirt's handler for the closed monitor runs the same
/// kill, and the same sleep, before QEMU is reaped. So this process holds copies of
/// QEMU's sockets (`pidfd_getfd`) while QEMU ends: libvirt sees the monitor close only
/// when the copies close, after its destroy has found QEMU gone.
///
/// Only for QEMUs this process adopted, and only while it may copy their sockets
/// (ptrace's rules): otherwise there is nothing to hold, and the destroy ends QEMU alone.
final class EndingQEMU {
    private let pidfd: Int32
    private var sockets: [Int32] = []

    /// Where libvirt's embedded driver in `root` keeps the PID of domain `name`'s QEMU.
    static func pidFile(domainNamed name: String, embeddedRoot root: URL) -> URL {
        root.appendingPathComponent("run/qemu/\(name).pid")
    }

    /// The QEMU of domain `name` in the embedded driver's folder `root`, if it is this
    /// process's adopted child and its sockets could be copied.
    init?(domainNamed name: String, embeddedRoot root: URL) {
        guard let text = try? String(contentsOf: Self.pidFile(domainNamed: name, embeddedRoot: root), encoding: .utf8),
            let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return nil }
        pidfd = vmtest_pidfd_open(pid)
        guard pidfd >= 0 else { return nil }
        // The pidfd stands for the process it opened; this process being its parent says
        // the PID was still QEMU's, not a later process's that took the number, and that
        // this process adopted it (``AdoptedDaemons``), so its reaper will reap it.
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), ProcessStat(stat)?.parent == getpid(),
            let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")
        else { return nil }
        for entry in entries {
            guard let fd = Int32(entry),
                let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(entry)"),
                target.hasPrefix("socket:")
            else { continue }
            let copy = vmtest_pidfd_getfd(pidfd, fd)
            guard copy >= 0 else { return nil }
            sockets.append(copy)
        }
        guard !sockets.isEmpty else { return nil }
    }

    deinit {
        closeSockets()
        close(pidfd)
    }

    /// Sends QEMU SIGTERM, on which it flushes its disks and exits, and waits until it has
    /// been reaped, at most `limit`; returns whether the signal reached it. Blocks: for a
    /// thread of ``LibvirtWorkers``.
    @discardableResult
    func end(within limit: Duration) -> Bool {
        guard vmtest_pidfd_send_signal(pidfd, SIGTERM) == 0 else { return false }
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            // Signal 0 reaches an ended process until it is reaped.
            if vmtest_pidfd_send_signal(pidfd, 0) != 0 { break }
            // The pidfd reads as ready once QEMU has ended; the reaper takes it microseconds later.
            var ready = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
            if poll(&ready, 1, 10) > 0 { usleep(200) }
        }
        return true
    }

    /// Lets libvirt see QEMU's sockets close.
    func closeSockets() {
        for socket in sockets { close(socket) }
        sockets = []
    }
}
