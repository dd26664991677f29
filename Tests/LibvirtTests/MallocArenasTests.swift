import CLibvirt
import Foundation
import Testing

@testable import Libvirt

/// Once limited, glibc makes no more arenas however many threads allocate at once; what
/// the limit saves is measured by bench/performance.py (a 16-set night's peak memory).
@Suite struct MallocArenasTests {
    @Test func threadsAllocatingAtOnceShareTheArenasThereAre() {
        #expect(MallocArenas.limit(to: 2))
        let before = Self.arenaCount()
        // Eight threads, each allocating while all the others hold their allocation: without
        // the limit each would get an arena of its own.
        let holding = DispatchGroup()
        let release = DispatchSemaphore(value: 0)
        let done = DispatchGroup()
        for _ in 0..<8 {
            holding.enter()
            done.enter()
            Thread {
                let block = malloc(64 << 10)
                holding.leave()
                release.wait()
                free(block)
                done.leave()
            }.start()
        }
        holding.wait()
        let during = Self.arenaCount()
        for _ in 0..<8 { release.signal() }
        done.wait()
        #expect(before > 0)
        #expect(during <= max(before, 2), "arenas before: \(before), with eight threads allocating: \(during)")
    }

    /// The arenas glibc has made in this process, counted in `malloc_info`'s report.
    static func arenaCount() -> Int {
        var buffer: UnsafeMutablePointer<CChar>?
        var size = 0
        guard let stream = open_memstream(&buffer, &size) else { return -1 }
        malloc_info(0, stream)
        fclose(stream)
        defer { free(buffer) }
        guard let buffer else { return -1 }
        return String(cString: buffer).components(separatedBy: "<heap nr=").count - 1
    }
}
