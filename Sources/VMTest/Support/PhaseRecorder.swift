import Foundation
import Synchronization

/// Seconds each named step took, in order: the one timer for a guest's launch, a run's
/// steps inside it, and an image build, so every report times its steps the same way.
final class PhaseRecorder: Sendable {
    let reporter: any Reporter
    private let recorded = Mutex<[PhaseTiming]>([])

    init(reporter: any Reporter) { self.reporter = reporter }

    var phases: [PhaseTiming] { recorded.withLock { $0 } }

    /// Adds steps timed elsewhere (a guest's launch, before the run's own steps).
    func record(_ phases: [PhaseTiming]) {
        recorded.withLock { $0 += phases }
    }

    /// Times `work` as `phase`. With a `detail` the step is reported as it begins and
    /// ends; without one the step reports its own progress and is only timed.
    func timed<R>(_ phase: String, _ detail: String? = nil, _ work: () async throws -> R) async throws -> R {
        let start = ContinuousClock.now
        if let detail { reporter.begin(phase, detail) }
        let result = try await work()
        let seconds = (ContinuousClock.now - start).seconds
        recorded.withLock { $0.append(PhaseTiming(name: phase, seconds: seconds)) }
        if detail != nil { reporter.end(phase, seconds: seconds, "done") }
        return result
    }
}
