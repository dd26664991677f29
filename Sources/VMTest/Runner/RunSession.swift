import Foundation
import Synchronization

/// The mutable record of one run while it happens.
final class RunSession: Sendable {
    let prepared: PreparedRun
    let reporter: any Reporter
    /// The guest's launch steps, then the run's own (cloud-init, ssh, copy).
    let phases: PhaseRecorder
    private let state = Mutex(State())

    private struct State {
        var tests: [TestCaseResult] = []
        var imageSHA256: String?
        var warmState: String?
        /// How the guest was decided to boot in the end (a refused 32-bit vCPU decides again).
        var guest: GuestPlan?
    }

    init(prepared: PreparedRun, reporter: any Reporter) {
        self.prepared = prepared
        self.reporter = reporter
        phases = PhaseRecorder(reporter: reporter)
    }

    var tests: [TestCaseResult] { state.withLock { $0.tests } }
    var imageSHA256: String? { state.withLock { $0.imageSHA256 } }
    var warmState: String? { state.withLock { $0.warmState } }
    /// The plan the guest booted with: the prepared one unless the hypervisor changed it.
    var guestPlan: GuestPlan { state.withLock { $0.guest } ?? prepared.guest }

    /// What the launcher says of the guest it started.
    func record(_ guest: Guest) {
        state.withLock {
            $0.imageSHA256 = guest.image.diskSHA256
            if case .warm(let key) = guest.start { $0.warmState = key }
            $0.guest = guest.plan
        }
        phases.record(guest.phases)
    }

    /// Runs one test case. A failing or timed-out command is a verdict; a broken
    /// channel is rethrown, because no later test could run either.
    ///
    /// - Parameters:
    ///   - timeout: the test's own limit (a tmt `duration`); the run's `--test-timeout` otherwise.
    ///   - judge: what the finished command means; by default its exit status does.
    func test(
        kind: TestCaseResult.Kind, name: String, command: String, on channel: any GuestChannel, timeout: Duration? = nil,
        judge: ((CommandResult) -> SuiteOutcome)? = nil
    ) async throws -> TestCaseResult {
        let start = ContinuousClock.now
        reporter.begin("test", name)
        let attempt = try await self.attempt(command, on: channel, timeout: timeout)
        return record(kind: kind, name: name, command: command, attempt, since: start, judge: judge)
    }

    /// How one run of a test's command ended.
    enum Attempt: Sendable {
        case finished(CommandResult)
        /// It ran out of time; the console's last lines say where it was.
        case timedOut(after: Duration, lastLines: [String])

        /// It finished with exit status 0.
        var succeeded: Bool {
            guard case .finished(let result) = self else { return false }
            return result.succeeded
        }
    }

    /// Runs a test's command with the workarounds' environment, within its limit.
    func attempt(_ command: String, on channel: any GuestChannel, timeout: Duration? = nil) async throws -> Attempt {
        let limit = timeout ?? prepared.testTimeout
        // What the workarounds ask of test commands (e.g. JAVA_TOOL_OPTIONS=-Xint).
        let exports = guestPlan.testEnvironment.sorted { $0.key < $1.key }
            .map { "export \($0.key)=\(ShellWords.quote($0.value)); " }.joined()
        do {
            return .finished(try await channel.run(exports + command, timeout: limit))
        } catch let error as GuestChannelError {
            guard case .commandTimedOut = error.kind else { throw error }
            return .timedOut(after: limit, lastLines: error.lastLines)
        }
    }

    /// Judges an attempt and records it as the test's result.
    func record(
        kind: TestCaseResult.Kind, name: String, command: String, _ attempt: Attempt, since start: ContinuousClock.Instant,
        judge: ((CommandResult) -> SuiteOutcome)? = nil
    ) -> TestCaseResult {
        var result = TestCaseResult(
            kind: kind, name: name, command: command, verdict: .passed, exitStatus: nil,
            seconds: 0, standardOutput: "", standardError: "", message: nil)
        switch attempt {
        case .finished(let outcome):
            result.exitStatus = outcome.exitStatus
            result.standardOutput = outcome.standardOutput
            result.standardError = outcome.standardError
            let judged = judge?(outcome) ?? .byExitStatus(outcome.exitStatus, skipsOnExit77: kind.skipsOnExit77)
            result.verdict = judged.verdict
            result.message = judged.message
        case .timedOut(let limit, let lastLines):
            result.verdict = .failed
            result.message = "timed out after \(Int(limit.seconds)) s"
            result.standardOutput = lastLines.joined(separator: "\n")
        }
        result.seconds = (ContinuousClock.now - start).seconds
        let verdict = result.verdict
        reporter.end(
            "test", seconds: result.seconds, "\(verdict.rawValue.uppercased()) \(name)" + (result.message.map { " (\($0))" } ?? ""))
        state.withLock { $0.tests.append(result) }
        return result
    }

    /// Records a test that could not be run at all, as an error, and returns it.
    func error(kind: TestCaseResult.Kind, name: String, because reason: String) -> TestCaseResult {
        reporter.note("test: ERROR \(name) (\(reason))")
        let result = TestCaseResult(
            kind: kind, name: name, command: "", verdict: .error, exitStatus: nil,
            seconds: 0, standardOutput: "", standardError: "", message: reason)
        state.withLock { $0.tests.append(result) }
        return result
    }

    /// Records a test that is not run, and why (autopkgtest's reasons, say).
    func skip(kind: TestCaseResult.Kind, name: String, because reason: String) {
        reporter.note("test: SKIPPED \(name) (\(reason))")
        state.withLock {
            $0.tests.append(
                TestCaseResult(
                    kind: kind, name: name, command: "", verdict: .skipped, exitStatus: nil,
                    seconds: 0, standardOutput: "", standardError: "", message: reason))
        }
    }

    func skipRemaining(because reason: String) {
        let skipped =
            prepared.packages.flatMap { package in
                prepared.profile.smokeTests.map { TestName.smoke($0, package) }
            } + prepared.commands.enumerated().map { TestName.command($0.offset, $0.element) }
            + prepared.testScripts.map(\.lastPathComponent) + (prepared.inputs.suite?.testNames ?? [])
        state.withLock {
            for name in skipped {
                $0.tests.append(
                    TestCaseResult(
                        kind: .skipped, name: name, command: "", verdict: .skipped, exitStatus: nil,
                        seconds: 0, standardOutput: "", standardError: "", message: reason))
            }
        }
    }
}
