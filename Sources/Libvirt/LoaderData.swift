internal import CLibvirt

/// What the dynamic loader reads while it loads vmtest and its libraries, and never again:
/// their relocation and symbol tables.
///
/// The loader reads them before `main` (and a library's when libvirt loads a driver module),
/// yet their pages stay resident, counted in vmtest's memory for the whole run. They are
/// clean pages of the files, so touching them again (a later `dlopen`, a lazily bound call)
/// only reads them back. Given back, they lowered a warm run's peak from 41.0 to 39.0 MiB
/// (the executable's relocations alone) and then from 38.5-39.0 to 36.5-36.8 MiB (its symbol
/// tables and the libraries' tables too), and a 16-set night's from 41.2-41.6 to 39.3-39.4 MiB
/// (release build, eight warm runs and four nights each, in turn, in two series). It lives beside the
/// libvirt wrappers because its C (the ELF headers, the loader's list of objects,
/// `madvise`) comes through `CLibvirt`, like ``MallocSettings``'.
public enum LoaderData {
    /// The whole pages of the executable's tables for the loader, as loaded: its symbols,
    /// their names, hash and versions, and its relocations.
    ///
    /// A position-independent executable carries one relocation per absolute pointer in its
    /// data: vmtest's release build has about 88,000 (2 MiB, Swift's metadata and
    /// Foundation's tables), and exports its symbols (0.8 MiB, searched first for every
    /// symbol any library binds). gold, which links it, puts the tables one after the other
    /// in the segment that holds the code, so they are given back from the first to the end
    /// of the last, provided that range lies in a segment nobody writes.
    public static var executableTables: UnsafeRawBufferPointer? {
        // The kernel says where it loaded the executable's program headers; the header that
        // describes them (PT_PHDR) gives the distance the executable was loaded at.
        guard let first = UnsafePointer<Elf64_Phdr>(bitPattern: UInt(getauxval(UInt(AT_PHDR)))) else { return nil }
        let headers = UnsafeBufferPointer(start: first, count: Int(getauxval(UInt(AT_PHNUM))))
        let bias = headers.first { $0.p_type == PT_PHDR }.map { UInt(bitPattern: first) - UInt($0.p_vaddr) } ?? 0
        guard let dynamic = headers.first(where: { $0.p_type == PT_DYNAMIC }) else { return nil }
        var entry = UnsafePointer<Elf64_Dyn>(bitPattern: bias + UInt(dynamic.p_vaddr))
        var tags: [Int64: UInt] = [:]
        while let current = entry?.pointee, current.d_tag != DT_NULL {
            tags[current.d_tag] = UInt(current.d_un.d_val)
            entry = entry?.successor()
        }
        // glibc rewrites the addresses in place to where the tables were loaded; not every
        // loader does.
        func address(_ tag: Int32) -> UInt? { tags[Int64(tag)].map { $0 < bias ? $0 + bias : $0 } }
        let starts = [DT_SYMTAB, DT_STRTAB, DT_GNU_HASH, DT_VERSYM, DT_RELA, DT_JMPREL].compactMap { address(Int32($0)) }
        let ends = [(DT_STRTAB, DT_STRSZ), (DT_RELA, DT_RELASZ), (DT_JMPREL, DT_PLTRELSZ)].compactMap { table, size in
            address(Int32(table)).flatMap { start in tags[Int64(size)].map { start + $0 } }
        }
        guard let low = starts.min(), let high = ends.max(), high > low else { return nil }
        let unwritten = headers.contains { header in
            let start = bias + UInt(header.p_vaddr)
            return header.p_type == PT_LOAD && header.p_flags & UInt32(PF_W) == 0 && start <= low
                && high <= start + UInt(header.p_filesz)
        }
        return unwritten ? wholePages(from: low, to: high) : nil
    }

    /// The whole pages of each loaded library's first segment, where it is read-only.
    ///
    /// GNU ld, which linked the system's libraries, gives the loader's data a segment of its
    /// own, ahead of the code: the ELF headers, symbol and version tables, relocations.
    /// libcrypto's alone are 0.5 MiB, read when it is loaded. The loader's list of objects
    /// (`_r_debug`) holds the libraries libvirt loads later too.
    public static var librarySegments: [UnsafeRawBufferPointer] {
        var segments: [UnsafeRawBufferPointer] = []
        var object = vmtest_loaded_objects()
        while let current = object?.pointee {
            defer { object = current.l_next }
            // The executable (named "") is handled above; a library's ELF header is where its
            // first segment, which maps the file's start at address 0, was loaded.
            guard let name = current.l_name, name.pointee != 0, let segment = firstSegment(at: current.l_addr),
                segment.p_flags == UInt32(PF_R)
            else { continue }
            let start = UInt(current.l_addr)
            if let pages = wholePages(from: start, to: start + UInt(segment.p_filesz)) { segments.append(pages) }
        }
        return segments
    }

    /// The first loadable segment's header of the object loaded at `base`, if an ELF header
    /// of this machine's kind is there and that segment maps the file's start at address 0.
    /// An object whose first segment lies higher has nothing mapped at its base: the page is
    /// asked about (`mincore`) before it is read, as are its program headers.
    static func firstSegment(at base: Elf64_Addr) -> Elf64_Phdr? {
        func isMapped(_ address: UInt, _ count: Int) -> Bool {
            let start = address / pageSize * pageSize
            let length = Int(address - start) + count
            var residency = [UInt8](repeating: 0, count: (length + Int(pageSize) - 1) / Int(pageSize))
            return mincore(UnsafeMutableRawPointer(bitPattern: start), length, &residency) == 0
        }
        guard base != 0, isMapped(UInt(base), MemoryLayout<Elf64_Ehdr>.size),
            let header = UnsafePointer<Elf64_Ehdr>(bitPattern: UInt(base))?.pointee,
            header.e_ident.0 == 0x7F, header.e_ident.1 == UInt8(ascii: "E"), header.e_ident.2 == UInt8(ascii: "L"),
            header.e_ident.3 == UInt8(ascii: "F"), header.e_ident.4 == UInt8(ELFCLASS64),
            header.e_phentsize == MemoryLayout<Elf64_Phdr>.stride,
            isMapped(UInt(base) + UInt(header.e_phoff), Int(header.e_phnum) * MemoryLayout<Elf64_Phdr>.stride),
            let first = UnsafePointer<Elf64_Phdr>(bitPattern: UInt(base) + UInt(header.e_phoff))
        else { return nil }
        let segment = UnsafeBufferPointer(start: first, count: Int(header.e_phnum)).first { $0.p_type == PT_LOAD }
        guard let segment, segment.p_offset == 0, segment.p_vaddr == 0 else { return nil }
        return segment
    }

    private static let pageSize = UInt(sysconf(Int32(_SC_PAGESIZE)))

    private static func wholePages(from start: UInt, to end: UInt) -> UnsafeRawBufferPointer? {
        let first = (start + pageSize - 1) / pageSize * pageSize
        let last = end / pageSize * pageSize
        guard last > first else { return nil }
        return UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: first), count: Int(last - first))
    }

    /// Gives the pages back to the kernel; returns how many bytes. Called first thing in
    /// `main`, when the loader is done, and again by ``Connection/open(uri:)`` once libvirt
    /// has loaded its driver modules.
    @discardableResult
    public static func release() -> Int {
        ([executableTables].compactMap { $0 } + librarySegments).reduce(0) { released, pages in
            guard let start = pages.baseAddress,
                madvise(UnsafeMutableRawPointer(mutating: start), pages.count, MADV_DONTNEED) == 0
            else { return released }
            return released + pages.count
        }
    }
}
