import Foundation

/// The mutable record of one run while it happens.
final class RunSession: @unchecked Sendable {
    let prepared: PreparedRun
    let reporter: any Reporter
    private let lock = NSLock()
    private var _tests: [TestCaseResult] = []
    private var _phases: [PhaseTiming] = []
    private var _imageSHA256: String?
    private var _warmState: String?

    init(prepared: PreparedRun, reporter: any Reporter) {
        self.prepared = prepared
        self.reporter = reporter
    }

    var tests: [TestCaseResult] { lock.withLock { _tests } }
    var phases: [PhaseTiming] {
        get { lock.withLock { _phases } }
        set { lock.withLock { _phases = newValue } }
    }
    var imageSHA256: String? {
        get { lock.withLock { _imageSHA256 } }
        set { lock.withLock { _imageSHA256 = newValue } }
    }
    var warmState: String? {
        get { lock.withLock { _warmState } }
        set { lock.withLock { _warmState = newValue } }
    }

    /// Records how long a step that reports its own progress took.
    func timed<T>(_ name: String, _ work: () async throws -> T) async throws -> T {
        let start = ContinuousClock.now
        let result = try await work()
        lock.withLock { _phases.append(PhaseTiming(name: name, seconds: (ContinuousClock.now - start).seconds)) }
        return result
    }

    func phase(_ name: String, _ detail: String, _ work: () async throws -> Void) async throws {
        let start = ContinuousClock.now
        reporter.begin(name, detail)
        try await work()
        let seconds = (ContinuousClock.now - start).seconds
        lock.withLock { _phases.append(PhaseTiming(name: name, seconds: seconds)) }
        reporter.end(name, seconds: seconds, "done")
    }

    /// Runs one test case. A failing or timed-out command is a verdict; a broken
    /// channel is rethrown, because no later test could run either.
    func test(kind: String, name: String, command: String, on channel: any GuestChannel) async throws -> TestCaseResult {
        let start = ContinuousClock.now
        reporter.begin("test", name)
        var result = TestCaseResult(kind: kind, name: name, command: command, verdict: .passed, exitStatus: nil,
                                    seconds: 0, standardOutput: "", standardError: "", message: nil)
        // What the workarounds ask of test commands (e.g. JAVA_TOOL_OPTIONS=-Xint).
        let exports = prepared.testEnvironment.sorted { $0.key < $1.key }
            .map { "export \($0.key)=\(ShellWords.quote($0.value)); " }.joined()
        do {
            let outcome = try await channel.run(exports + command, timeout: prepared.testTimeout)
            result.exitStatus = outcome.exitStatus
            result.standardOutput = outcome.standardOutput
            result.standardError = outcome.standardError
            switch outcome.exitStatus {
            case 0: result.verdict = .passed
            case 77 where kind == "installed-tests":
                result.verdict = .skipped
                result.message = "the test skipped itself (exit 77)"
            default:
                result.verdict = .failed
                result.message = "exit status \(outcome.exitStatus)"
            }
        } catch let error as GuestChannelError {
            guard case .commandTimedOut = error.kind else { throw error }
            result.verdict = .failed
            result.message = "timed out after \(Int(prepared.testTimeout.seconds)) s"
            result.standardOutput = error.lastLines.joined(separator: "\n")
        }
        result.seconds = (ContinuousClock.now - start).seconds
        let verdict = result.verdict
        reporter.end("test", seconds: result.seconds, "\(verdict.rawValue.uppercased()) \(name)" + (result.message.map { " (\($0))" } ?? ""))
        lock.withLock { _tests.append(result) }
        return result
    }

    func skipRemaining(because reason: String) {
        let skipped = prepared.packages.flatMap { package in
            prepared.request.profile.smokeTests.map { TestName.smoke($0, package) }
        } + prepared.request.commands.enumerated().map { TestName.command($0.offset, $0.element) }
            + prepared.testScripts.map(\.lastPathComponent)
        lock.withLock {
            for name in skipped {
                _tests.append(TestCaseResult(kind: "skipped", name: name, command: "", verdict: .skipped, exitStatus: nil,
                                             seconds: 0, standardOutput: "", standardError: "", message: reason))
            }
        }
    }
}
