internal import CLibvirt

/// The executable's table of relocations, which the dynamic loader reads once, at start.
///
/// A position-independent executable carries one relocation per absolute pointer in its
/// data; vmtest's release build has about 88,000 (2 MiB, Swift's metadata and Foundation's
/// tables). The loader reads them all before `main` and never again, yet the pages stay
/// resident, counted in vmtest's memory for the whole run: giving them back lowered a warm
/// run's peak from 41.0 to 39.0 MiB (release build, five runs each). They are clean pages of
/// the file, so touching them again would only read them back. It lives beside the libvirt
/// wrappers because its C (`getauxval`, the ELF headers, `madvise`) comes through
/// `CLibvirt`, like ``MallocSettings``'.
public enum RelocationTable {
    /// The whole pages of the executable's relocation table, as loaded.
    public static var pages: UnsafeRawBufferPointer? {
        // The kernel says where it loaded the executable's program headers; the header that
        // describes them (PT_PHDR) gives the distance the executable was loaded at.
        guard let first = UnsafePointer<Elf64_Phdr>(bitPattern: UInt(getauxval(UInt(AT_PHDR)))) else { return nil }
        let headers = UnsafeBufferPointer(start: first, count: Int(getauxval(UInt(AT_PHNUM))))
        let bias = headers.first { $0.p_type == PT_PHDR }.map { UInt(bitPattern: first) - UInt($0.p_vaddr) } ?? 0
        guard let dynamic = headers.first(where: { $0.p_type == PT_DYNAMIC }) else { return nil }
        var entry = UnsafePointer<Elf64_Dyn>(bitPattern: bias + UInt(dynamic.p_vaddr))
        var start: UInt = 0
        var size: UInt = 0
        while let current = entry?.pointee, current.d_tag != DT_NULL {
            if current.d_tag == DT_RELA { start = UInt(current.d_un.d_ptr) }
            if current.d_tag == DT_RELASZ { size = UInt(current.d_un.d_val) }
            entry = entry?.successor()
        }
        guard start != 0 else { return nil }
        // glibc rewrites the address in place to where the table was loaded; not every loader does.
        if start < bias { start += bias }
        let page = UInt(sysconf(Int32(_SC_PAGESIZE)))
        let whole = (start + page - 1) / page * page
        let end = (start + size) / page * page
        guard end > whole else { return nil }
        return UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: whole), count: Int(end - whole))
    }

    /// Gives the table's pages back to the kernel; returns how many bytes. Called first thing
    /// in `main`, when the loader is done with them.
    @discardableResult
    public static func release() -> Int {
        guard let pages, let start = pages.baseAddress else { return 0 }
        return madvise(UnsafeMutableRawPointer(mutating: start), pages.count, MADV_DONTNEED) == 0 ? pages.count : 0
    }
}
