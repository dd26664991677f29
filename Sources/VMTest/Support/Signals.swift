import Dispatch
import Foundation
import Synchronization

/// The run was stopped by SIGINT or SIGTERM; the exit status a shell expects is 128 + signal.
public struct Interrupted: Error, Sendable, CustomStringConvertible {
    public var signal: Int32
    public var exitStatus: Int32 { 128 + signal }
    public var description: String { signal == SIGINT ? "interrupted (SIGINT)" : "terminated (signal \(signal))" }
}

/// Runs `operation` so that SIGINT and SIGTERM cancel it instead of killing the process.
///
/// Killing the process would leave QEMU running and the overlay on disk: cancellation
/// lets every scope's teardown run first, after which this throws ``Interrupted``.
public func withSignalCancellation<T: Sendable>(
    _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let received = Mutex<Int32?>(nil)
    let task = Task { try await operation() }
    let sources = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
        signal(number, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
        source.setEventHandler {
            received.withLock { $0 = $0 ?? number }
            task.cancel()
        }
        source.resume()
        return source
    }
    defer {
        for source in sources { source.cancel() }
    }
    do {
        let value = try await task.value
        if let number = received.withLock({ $0 }) { throw Interrupted(signal: number) }
        return value
    } catch {
        if let number = received.withLock({ $0 }) { throw Interrupted(signal: number) }
        throw error
    }
}
