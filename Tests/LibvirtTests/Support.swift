import Foundation
import Libvirt

/// Thrown by ``withTimeout(seconds:_:)`` so a missing event fails the test instead of
/// hanging the run.
struct TimedOut: Error, CustomStringConvertible {
    var seconds: Double
    var description: String { "timed out after \(seconds) s" }
}

/// Runs `body`, failing with ``TimedOut`` if it takes longer than `seconds`.
func withTimeout<T: Sendable>(
    seconds: Double, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            throw TimedOut(seconds: seconds)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// The first event for the named domain that matches `kind`, skipping others.
func firstEvent(
    _ kind: DomainLifecycleEvent.Kind, for name: String,
    in events: AsyncStream<DomainLifecycleEvent>, seconds: Double = 10
) async throws -> DomainLifecycleEvent {
    try await withTimeout(seconds: seconds) {
        for await event in events where event.domainName == name && event.kind == kind {
            return event
        }
        throw TimedOut(seconds: seconds)
    }
}

/// A domain name no other test (or engineer) uses.
func uniqueDomainName(_ prefix: String) -> String {
    "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
}

/// The smallest domain the test driver accepts.
func testDriverDomainXML(name: String) -> String {
    """
    <domain type='test'>
      <name>\(name)</name>
      <memory unit='MiB'>32</memory>
      <os><type>hvm</type></os>
    </domain>
    """
}
