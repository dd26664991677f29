import Foundation
import Testing

@testable import Libvirt

/// The executable's relocation table is found where the loader mapped it, and its pages leave
/// the process's memory once released (this test binary is position-independent too).
@Suite struct RelocationTableTests {
    @Test func theTableLiesInTheExecutablesOwnMapping() throws {
        let pages = try #require(RelocationTable.pages)
        let start = UInt(bitPattern: pages.baseAddress)
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let maps = try String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
        let mapping = maps.split(separator: "\n").first { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            let bounds = fields[0].split(separator: "-").compactMap { UInt($0, radix: 16) }
            return fields.last.map(String.init) == executable && bounds[0] <= start && start + UInt(pages.count) <= bounds[1]
        }
        #expect(mapping != nil, "\(pages) is not in a mapping of \(executable)")
    }

    @Test func releasedPagesAreNoLongerResident() throws {
        let pages = try #require(RelocationTable.pages)
        _ = pages.reduce(0 as UInt8) { $0 ^ $1 }  // resident whatever happened before
        #expect(try residentPages(of: pages) == pages.count / pageSize)
        #expect(RelocationTable.release() == pages.count)
        #expect(try residentPages(of: pages) == 0)
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
}
