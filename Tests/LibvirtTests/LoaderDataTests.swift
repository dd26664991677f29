import Foundation
import Testing

@testable import Libvirt

/// The loader's tables are found where the loader mapped them, in mappings nobody writes, and
/// their pages leave the process's memory once released (this test binary is
/// position-independent too, and links libvirt).
@Suite(.serialized) struct LoaderDataTests {
    @Test func theExecutablesTablesLieInItsOwnReadOnlyMapping() throws {
        let pages = try #require(LoaderData.executableTables)
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let mapping = try #require(try Self.mapping(holding: pages), "\(pages) is not in a mapping")
        #expect(mapping.file == executable)
        #expect(!mapping.permissions.contains("w"))
    }

    @Test func libvirtsFirstSegmentIsAmongTheLibrariesAndHoldsNoCode() throws {
        let segments = LoaderData.librarySegments
        let mappings = try segments.compactMap { try Self.mapping(holding: $0) }
        #expect(mappings.count == segments.count, "every segment lies in one mapping")
        #expect(mappings.allSatisfy { $0.permissions == "r--p" && $0.offset == 0 })
        #expect(mappings.contains { $0.file.contains("/libvirt.so.0") })
    }

    /// A base with nothing mapped there, or no ELF header, is passed over instead of read.
    @Test func aBaseWithoutAnELFHeaderIsPassedOver() throws {
        let size = pageSize
        let page = try #require(mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        #expect(page != MAP_FAILED)
        let base = Elf64_Addr(UInt(bitPattern: page))
        #expect(LoaderData.firstSegment(at: base) == nil, "zeros are no ELF header")
        munmap(page, size)
        #expect(LoaderData.firstSegment(at: base) == nil, "nothing is mapped there")
        let libvirt = try #require(
            LoaderData.librarySegments.first { try Self.mapping(holding: $0)?.file.contains("/libvirt.so.0") == true })
        #expect(LoaderData.firstSegment(at: Elf64_Addr(UInt(bitPattern: libvirt.baseAddress))) != nil)
    }

    @Test func releasedPagesAreNoLongerResident() throws {
        let all = try [#require(LoaderData.executableTables)] + LoaderData.librarySegments
        for pages in all { _ = pages.reduce(0 as UInt8) { $0 ^ $1 } }  // resident whatever happened before
        let before = try all.map(residentPages(of:))
        #expect(before == all.map { $0.count / pageSize })
        #expect(LoaderData.release() == all.reduce(0) { $0 + $1.count })
        // Tests running beside this one may look symbols up meanwhile (a first call through
        // a lazily bound PLT entry, libvirt loading a driver module as a test connects),
        // which reads some of these pages back: nearly all stay out, in one of three tries
        // (80 of 1,372 came back once in CI).
        var after = try all.map(residentPages(of:)).reduce(0, +)
        for _ in 1..<3 where after * 50 >= before.reduce(0, +) {
            LoaderData.release()
            after = try all.map(residentPages(of:)).reduce(0, +)
        }
        #expect(after * 50 < before.reduce(0, +), "\(after) of \(before.reduce(0, +)) pages still resident")
    }

    private var pageSize: Int { Int(sysconf(Int32(_SC_PAGESIZE))) }

    /// How many of the pages are in this process's memory: bit 63 of each page's entry in
    /// /proc/self/pagemap.
    private func residentPages(of range: UnsafeRawBufferPointer) throws -> Int {
        let pagemap = try #require(FileHandle(forReadingAtPath: "/proc/self/pagemap"))
        defer { try? pagemap.close() }
        let first = UInt(bitPattern: range.baseAddress) / UInt(pageSize)
        try pagemap.seek(toOffset: UInt64(first) * 8)
        let entries = try #require(try pagemap.read(upToCount: range.count / pageSize * 8))
        return stride(from: 0, to: entries.count, by: 8).filter { entries[entries.startIndex + $0 + 7] & 0x80 != 0 }.count
    }

    struct Mapping {
        var permissions: String
        var offset: UInt
        var file: String
    }

    /// The line of /proc/self/maps whose range holds `range` whole.
    static func mapping(holding range: UnsafeRawBufferPointer) throws -> Mapping? {
        let start = UInt(bitPattern: range.baseAddress)
        // Read to its end: Foundation reads a file by its size, which /proc gives as 0.
        let file = try #require(FileHandle(forReadingAtPath: "/proc/self/maps"))
        defer { try? file.close() }
        let maps = String(decoding: try file.readToEnd() ?? Data(), as: UTF8.self)
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            let bounds = fields[0].split(separator: "-").compactMap { UInt($0, radix: 16) }
            guard fields.count >= 6, bounds.count == 2, bounds[0] <= start, start + UInt(range.count) <= bounds[1] else { continue }
            return Mapping(permissions: String(fields[1]), offset: UInt(fields[2], radix: 16) ?? .max, file: String(fields[5]))
        }
        return nil
    }
}
