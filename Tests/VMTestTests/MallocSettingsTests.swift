import CLibvirt
import Libvirt
import Testing

/// vmtest's malloc settings keep large blocks mapped on their own: with glibc's default, a
/// freed 16 MiB block (a tool's output reserve) sends every later block below 16 MiB to the
/// heap, whose freed pages stay resident.
@Suite struct MallocSettingsTests {
    @Test func aBlockOfOneMebibyteIsMappedOnItsOwnAfterALargerOneWasFreed() throws {
        #expect(MallocSettings.apply())
        let reserve = try #require(malloc(16 << 20))
        reserve.storeBytes(of: 1, as: UInt8.self)
        free(reserve)
        let block = try #require(malloc(1 << 20))
        defer { free(block) }
        // glibc's chunk header, the word before the block: its size, and bit 1 (IS_MMAPPED,
        // malloc.c) when the block has a mapping of its own.
        let header = UnsafeRawPointer(block).load(fromByteOffset: -MemoryLayout<UInt>.size, as: UInt.self)
        #expect(header & 2 != 0, "the 1 MiB block came from the heap (chunk header \(header))")
    }
}
