import Foundation
import Testing

@testable import Libvirt

/// Slow libvirt calls share a few threads of the layer's own, whatever number of tasks
/// make them at once, and each call's error is read on the thread that failed.
@Suite struct LibvirtWorkersTests {
    @Test func manyCallsAtOnceShareTheFourWorkers() async throws {
        func threadsOf64Calls() async -> Set<UInt> {
            await withTaskGroup(of: UInt.self) { group in
                for _ in 0..<64 {
                    group.addTask {
                        await LibvirtWorkers.shared.run { () -> UInt in
                            usleep(2_000)
                            return UInt(pthread_self())
                        }
                    }
                }
                return await group.reduce(into: Set<UInt>()) { $0.insert($1) }
            }
        }
        let first = await threadsOf64Calls()
        let second = await threadsOf64Calls()
        #expect(first.union(second).count <= 4, "one thread per call, as before, would make 128")
    }

    @Test func concurrentFailuresEachKeepTheirOwnError() async throws {
        let connection = try await Connection.open(uri: "test:///default")
        let errors = await withTaskGroup(of: String?.self) { group in
            for index in 0..<16 {
                group.addTask {
                    do {
                        if index.isMultiple(of: 2) {
                            _ = try await connection.createDomain(xml: "<domain")
                        } else {
                            try await connection.restoreDomain(from: URL(fileURLWithPath: "/nonexistent/\(index).save"))
                        }
                        return nil
                    } catch {
                        return (error as? LibvirtError)?.function
                    }
                }
            }
            return await group.reduce(into: [String?]()) { $0.append($1) }
        }
        #expect(errors.filter { $0 == "virDomainCreateXML" }.count == 8)
        #expect(errors.filter { $0 == "virDomainRestoreFlags" }.count == 8)
    }
}
