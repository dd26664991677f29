internal import CLibvirt
import Foundation

/// The daemons this process starts, adopted and reaped the moment they exit.
///
/// libvirt starts each QEMU as a daemon (it forks twice), so the embedded driver's QEMUs
/// are orphans whose parent is the machine's init, and `virDomainDestroy` (like a save)
/// returns only once the process is gone, that is, reaped. Where init reaps orphans late,
/// every teardown waits for it: a container's PID 1 is often no real init, and this
/// machine's reaps about once a second (1.2 s of a 1.4 s teardown). As Linux's child
/// subreaper, this process becomes the parent of what its threads daemonize.
public enum AdoptedProcesses {
    /// Whether this process adopts the daemons it starts; asks Linux once, on first use.
    public static let areAdopted: Bool = vmtest_become_child_subreaper() == 0

    /// Reaps `pid`, a process this one adopted, when it exits: a thread of its own waits
    /// for it, for as long as the process runs.
    public static func reapWhenItExits(_ pid: Int32) {
        let waiter = Thread {
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1, errno == EINTR {}
        }
        waiter.name = "vmtest-reap-\(pid)"
        waiter.start()
    }
}
