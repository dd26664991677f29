import Foundation

struct TimeLimitExceeded: Error {}

/// Runs `work`, cancelling it (so its teardown runs) when `limit` passes.
func withTimeLimit(_ limit: Duration, _ work: @escaping @Sendable () async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Bool.self) { group in
        group.addTask {
            try await work()
            return true
        }
        group.addTask {
            try await Task.sleep(for: limit)
            return false
        }
        defer { group.cancelAll() }
        guard let finished = try await group.next(), finished else { throw TimeLimitExceeded() }
    }
}
