internal import CLibvirt

/// The kernel's transparent huge pages, turned off for this process and for every process
/// it starts from then on: the QEMUs the embedded driver forks inherit the setting, across
/// their exec.
///
/// It lives beside the libvirt wrappers because its C (`prctl`, variadic) comes through
/// `CLibvirt`, like ``MallocSettings``'s.
public enum TransparentHugePages {
    /// Turns them off; whether the kernel took it.
    @discardableResult
    public static func disableForThisProcessAndWhatItStarts() -> Bool {
        vmtest_disable_transparent_huge_pages() == 0
    }
}
