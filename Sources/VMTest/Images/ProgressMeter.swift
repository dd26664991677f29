import Foundation
import Synchronization

/// Bytes, rate and ETA through the reporter: often on a terminal (its status line is
/// redrawn), every tenth of the file in plain logs.
final class ProgressMeter: Sendable {
    private let reporter: any Reporter
    private let label: String
    private let name: String
    private let state = Mutex(State())

    private struct State {
        var startedAt = ContinuousClock.now
        var startBytes: Int64 = 0
        var total: Int64?
        var lastReport = ContinuousClock.now
        var lastDecile = -1
    }

    init(reporter: any Reporter, label: String, name: String) {
        self.reporter = reporter
        self.label = label
        self.name = name
    }

    func started(at bytes: Int64, total: Int64?) {
        state.withLock {
            $0.startedAt = .now
            $0.startBytes = bytes
            $0.total = total
            $0.lastReport = .now
            $0.lastDecile = total.map { Int(bytes * 10 / max($0, 1)) } ?? -1
        }
        reporter.detail(
            label,
            "\(name): " + (total.map { "\(ImageFetcher.formatBytes($0))" } ?? "size unknown")
                + (bytes > 0 ? ", continuing at \(ImageFetcher.formatBytes(bytes))" : ""))
    }

    func advanced(to bytes: Int64) {
        let line: String? = state.withLock { state in
            let now = ContinuousClock.now
            let total = state.total
            let decile = total.map { Int(bytes * 10 / max($0, 1)) } ?? -1
            let due =
                reporter.isInteractive
                ? (now - state.lastReport) >= .milliseconds(250)
                : (total != nil ? decile > state.lastDecile : (now - state.lastReport) >= .seconds(10))
            guard due else { return nil }
            state.lastReport = now
            state.lastDecile = decile
            let elapsed = max((now - state.startedAt).seconds, 0.001)
            let rate = Double(bytes - state.startBytes) / elapsed
            var text = "\(name): \(ImageFetcher.formatBytes(bytes))"
            if let total {
                text += " of \(ImageFetcher.formatBytes(total)) (\(bytes * 100 / max(total, 1)) %)"
            }
            text += String(format: ", %.1f MiB/s", rate / 1_048_576)
            if let total, rate > 0 {
                text += ", ETA " + String(format: "%.0f s", Double(total - bytes) / rate)
            }
            return text
        }
        if let line { reporter.detail(label, line) }
    }
}
