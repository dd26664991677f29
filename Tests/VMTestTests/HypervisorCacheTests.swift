import Foundation
import Testing

@testable import VMTest

/// The process's hypervisors: one open per URI, however many runs ask at once.
@Suite struct HypervisorCacheTests {
    @Test func concurrentRequestsForOneURIShareOneConnection() async throws {
        let cache = HypervisorCache()
        let directories = Directories.standard()
        let hypervisors = try await withThrowingTaskGroup(of: Hypervisor.self) { group in
            for _ in 0..<8 {
                group.addTask { try await cache.hypervisor(for: "test:///default", directories: directories) }
            }
            return try await group.reduce(into: [Hypervisor]()) { $0.append($1) }
        }
        #expect(hypervisors.count == 8)
        #expect(hypervisors.allSatisfy { $0 === hypervisors[0] })
        #expect(try await hypervisors[0].connection.domain(named: "test") != nil)
    }

    @Test func aFailedOpenSaysWhichURIFailed() async throws {
        let cache = HypervisorCache()
        let error = try await #require(throws: HypervisorConnectionError.self) {
            try await cache.hypervisor(for: "no-such-driver:///nowhere", directories: .standard())
        }
        #expect(error.uri == "no-such-driver:///nowhere")
        #expect(error.cause.function == "virConnectOpen")
    }
}
