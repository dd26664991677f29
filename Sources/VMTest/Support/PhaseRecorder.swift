import Foundation
import Synchronization

/// Seconds each launch phase took, reported as they end.
final class PhaseRecorder: Sendable {
    let reporter: any Reporter
    private let recorded = Mutex<[PhaseTiming]>([])

    init(reporter: any Reporter) { self.reporter = reporter }

    var phases: [PhaseTiming] { recorded.withLock { $0 } }

    func timed<R>(_ phase: String, _ detail: String, _ work: () async throws -> R) async throws -> R {
        let start = ContinuousClock.now
        reporter.begin(phase, detail)
        let result = try await work()
        let seconds = (ContinuousClock.now - start).seconds
        recorded.withLock { $0.append(PhaseTiming(name: phase, seconds: seconds)) }
        reporter.end(phase, seconds: seconds, "done")
        return result
    }
}
