internal import CLibvirt

/// glibc's malloc arenas, for a process whose threads mostly wait.
///
/// glibc gives threads arenas of their own, up to eight per core, and memory a thread
/// frees stays in its arena for the others to miss. vmtest's threads (Swift's, libvirt's,
/// the ones blocking calls run on) mostly wait on guests, libvirt and child processes, so
/// two arenas cost them nothing measurable (a warm run took as long), and a 16-set night
/// at `--parallel 8` peaked 2-3.5 MiB lower (51.4-53.5 against 54.5-55.5 MiB resident,
/// five nights each way). It lives beside the libvirt wrappers because its C (`mallopt`,
/// which Swift's Glibc module leaves out) comes through `CLibvirt`, like ``KVMDevice``'s.
public enum MallocArenas {
    /// Caps the arenas at `count`; returns whether glibc took the setting. Called first
    /// thing in `main`: glibc fixes its limit for good once a process has nine arenas.
    @discardableResult
    public static func limit(to count: Int32) -> Bool {
        mallopt(M_ARENA_MAX, count) == 1
    }
}
