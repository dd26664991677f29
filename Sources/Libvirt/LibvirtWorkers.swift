import Dispatch
import Foundation
import Synchronization

/// A few threads of this module's own on which every libvirt call that may block runs.
///
/// Opening the QEMU driver probes the emulator (seconds, the first time), starting,
/// destroying, saving and restoring QEMU take about as long, and with a remote driver
/// every call is a round trip to the daemon. On one of the few threads of Swift's
/// cooperative pool such a call would stall unrelated tasks, so the public API is
/// `async` and hands each call to these workers instead. Their number is fixed: a
/// nightly matrix starting many guests at once queues here rather than piling up
/// threads, as one thread per call did.
///
/// Each job runs whole on one worker, so it reads libvirt's thread-local error on the
/// thread whose call failed. libvirt calls cannot be interrupted, so cancellation does
/// not end an await early. A job must never wait for another job: with every worker
/// waiting, nothing would run.
final class LibvirtWorkers: Sendable {
    /// The process-wide pool; its threads start on first use and live as long as the
    /// process, like the event loop's.
    static let shared = LibvirtWorkers(count: 4)

    private let jobs = Mutex<[@Sendable () -> Void]>([])
    /// Counts queued jobs, so idle workers sleep instead of polling.
    private let queued = DispatchSemaphore(value: 0)

    private init(count: Int) {
        for index in 0..<count {
            let thread = Thread { [self] in work() }
            thread.name = "libvirt-pool-\(index)"
            thread.start()
        }
    }

    private func work() -> Never {
        while true {
            queued.wait()
            let job = jobs.withLock { $0.removeFirst() }
            job()
        }
    }

    /// Queues `job` and returns at once; for teardown that nobody waits for.
    func enqueue(_ job: @escaping @Sendable () -> Void) {
        jobs.withLock { $0.append(job) }
        queued.signal()
    }

    /// Runs `body` on a thread of its own instead: for jobs that take minutes (a stream
    /// carrying a disk image), which would keep a worker from every other run's calls.
    /// Like a worker's job it runs whole on one thread, so libvirt's error stays with it.
    static func runAlone<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    /// Runs `body` on a worker and returns what it returned or threw.
    func run<T: Sendable, E: Error>(_ body: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            enqueue { continuation.resume(returning: Result { () throws(E) in try body() }) }
        }
        return try result.get()
    }
}
