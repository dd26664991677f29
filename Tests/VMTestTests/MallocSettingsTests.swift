import CLibvirt
import Libvirt
import Testing

/// vmtest's malloc settings keep large blocks mapped on their own: with glibc's default, a
/// freed 16 MiB block (a tool's output reserve) sends every later block below 16 MiB to the
/// heap, whose freed pages stay resident.
@Suite struct MallocSettingsTests {
    @Test func aBlockBelowTheFreedOneIsMappedOnItsOwn() throws {
        #expect(MallocSettings.apply())
        let reserve = try #require(malloc(16 << 20))
        reserve.storeBytes(of: 1, as: UInt8.self)
        free(reserve)
        // Below the 16 MiB freed, and larger than any free chunk the heap may hold: glibc
        // takes a block from a free chunk whatever its threshold, and the tests that run
        // beside this one free memory too (a 1 MiB block came from the heap once in CI).
        let block = try #require(malloc(12 << 20))
        defer { free(block) }
        // glibc's chunk header, the word before the block: its size, and bit 1 (IS_MMAPPED,
        // malloc.c) when the block has a mapping of its own.
        let header = UnsafeRawPointer(block).load(fromByteOffset: -MemoryLayout<UInt>.size, as: UInt.self)
        #expect(header & 2 != 0, "the 12 MiB block came from the heap (chunk header \(header))")
    }
}
