import Foundation
import Synchronization

/// A night's progress on standard error: on a terminal, a table per hypervisor
/// (queued, running, passed, failed, infrastructure) redrawn in place with the last
/// events under it; in CI logs, one plain time-stamped line per event.
public final class NightlyProgress: Sendable {
    private struct Counts {
        var running = 0, passed = 0, failed = 0, infrastructure = 0
    }

    private struct State {
        var hypervisors: [String] = []
        var counts: [String: Counts] = [:]
        var queued = 0
        var events: [String] = []
        var drawnLines = 0
    }

    private let isTerminal: Bool
    private let started = ContinuousClock.now
    private let state = Mutex(State())
    private let write: @Sendable (String) -> Void

    public init(
        isTerminal: Bool = isatty(STDERR_FILENO) == 1 && ProcessInfo.processInfo.environment["CI"] == nil,
        write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.writeIfOpen($0) }
    ) {
        self.isTerminal = isTerminal
        self.write = write
    }

    func start(plan: String, runs: Int, hypervisors: [String], concurrency: Int, reason: String) {
        state.withLock {
            $0.hypervisors = hypervisors
            $0.queued = runs
            for uri in hypervisors { $0.counts[uri] = Counts() }
        }
        line("nightly \(plan): \(runs) run(s) over \(hypervisors.count) hypervisor(s), up to \(concurrency) at once (\(reason))")
    }

    func started(profile: String, packageSet: String, hypervisor: String, attempt: Int) {
        state.withLock {
            $0.queued -= attempt == 1 ? 1 : 0
            $0.counts[hypervisor, default: Counts()].running += 1
        }
        line("start \(profile) × \(packageSet) on \(hypervisor)" + (attempt > 1 ? " (attempt \(attempt))" : ""))
    }

    func finished(
        profile: String, packageSet: String, hypervisor: String, verdict: NightlyReport.Verdict, seconds: Double, retrying: Bool,
        detail: String?
    ) {
        state.withLock {
            var counts = $0.counts[hypervisor, default: Counts()]
            counts.running -= 1
            switch verdict {
            case .passed: counts.passed += 1
            case .failed: counts.failed += 1
            case .infrastructure: counts.infrastructure += 1
            }
            $0.counts[hypervisor] = counts
        }
        var text = "\(NightlyReportWriter.label(verdict)) \(profile) × \(packageSet) on \(hypervisor) (\(LineReporter.format(seconds)))"
        if verdict == .infrastructure, let detail { text += ": \(detail.split(separator: "\n").first ?? "")" }
        if retrying { text += "; trying again" }
        line(text)
    }

    func finish(_ report: NightlyReport, results: URL) {
        let counts = Dictionary(grouping: report.runs, by: \.verdict).mapValues(\.count)
        line(
            "\(counts[.passed] ?? 0) passed, \(counts[.failed] ?? 0) failed, \(counts[.infrastructure] ?? 0) infrastructure in \(LineReporter.format(report.seconds)); report: \(results.appendingPathComponent("report.html").path)"
        )
    }

    private func line(_ text: String) {
        let stamped = String(format: "[%6.1fs] ", (ContinuousClock.now - started).seconds) + text
        guard isTerminal else {
            write(stamped + "\n")
            return
        }
        let screen = state.withLock { state -> String in
            state.events = Array((state.events + [stamped]).suffix(8))
            func row(_ name: String, _ columns: [String]) -> String {
                name.padding(toLength: 40, withPad: " ", startingAt: 0)
                    + columns.map { String(repeating: " ", count: max(0, 9 - $0.count)) + $0 }.joined()
            }
            var lines = [row("hypervisor", ["running", "passed", "failed", "infra"])]
            for uri in state.hypervisors {
                let counts = state.counts[uri] ?? Counts()
                lines.append(
                    row(String(uri.prefix(39)), [counts.running, counts.passed, counts.failed, counts.infrastructure].map(String.init)))
            }
            lines.append("queued: \(state.queued)")
            lines += [""] + state.events
            // Up over what was drawn before, then the new table, each line cleared first.
            let up = state.drawnLines > 0 ? "\u{1B}[\(state.drawnLines)A" : ""
            state.drawnLines = lines.count
            return up + lines.map { "\r\u{1B}[K" + $0 }.joined(separator: "\n") + "\n"
        }
        write(screen)
    }
}
