internal import CLibvirt

/// glibc's malloc, set for vmtest: threads that mostly wait, and tools' output buffers that
/// are reserved large and stay mostly empty.
///
/// It lives beside the libvirt wrappers because its C (`mallopt`, which Swift's Glibc module
/// leaves out) comes through `CLibvirt`, like ``KVMDevice``'s.
public enum MallocSettings {
    /// Applies both settings; returns whether glibc took them. Called first thing in `main`:
    /// glibc fixes its arena limit for good once a process has nine arenas.
    ///
    /// - Two arenas: glibc gives threads arenas of their own, up to eight per core, and
    ///   memory a thread frees stays in its arena for the others to miss. vmtest's threads
    ///   (Swift's, libvirt's, the ones blocking calls run on) mostly wait on guests, libvirt
    ///   and child processes, so two arenas cost them nothing measurable (a warm run took as
    ///   long), and a 16-set night at `--parallel 8` peaked 2-3.5 MiB lower (51.4-53.5
    ///   against 54.5-55.5 MiB resident, five nights each way).
    /// - Blocks of 128 KiB and more mapped on their own, always: every tool vmtest runs
    ///   reserves room for 16 MiB of output (swift-subprocess reserves its limit), and glibc
    ///   by default raises that threshold to the largest block freed, so after the first tool
    ///   every buffer below 16 MiB came from the heap, whose freed pages stay resident, and
    ///   the heap kept 32 MiB free before giving any back. Fixed, a 16-set night peaked
    ///   42.2-42.4 against 44.1-44.5 MiB, a warm run 38.3 against 38.7 MiB.
    @discardableResult
    public static func apply() -> Bool {
        let arenas = mallopt(M_ARENA_MAX, 2) == 1
        // Setting the threshold at all is what turns glibc's raising of it off.
        let mapped = mallopt(M_MMAP_THRESHOLD, 128 << 10) == 1
        return arenas && mapped
    }
}
