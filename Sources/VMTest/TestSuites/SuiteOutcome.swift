/// What one packager-written test came to, in the terms its own format uses, before it
/// becomes a result: autopkgtest's skip and flaky, tmt's xfail, warn, info and error stay
/// visible as such instead of being folded into pass or fail.
public enum SuiteOutcome: Sendable, Equatable {
    case passed(note: String? = nil)
    case failed(String)
    case skipped(String)
    /// tmt `result: xfail`, and the test failed as expected.
    case expectedFailure
    /// DEP-8 `flaky` and the test failed: reported, not counted as a failure.
    case flaky(String)
    /// tmt `result: warn` (or beakerlib's WARN).
    case warned(String)
    /// tmt `result: info`: informational only.
    case info
    /// The test could not be judged: it ran out of time, or tmt `result: error`.
    case error(String)

    /// The verdict reports give it.
    public var verdict: RunReport.Verdict {
        switch self {
        case .passed: .passed
        case .failed: .failed
        case .skipped: .skipped
        case .expectedFailure: .xfail
        case .flaky: .flaky
        case .warned: .warn
        case .info: .info
        case .error: .error
        }
    }

    /// Why, in one line, for the report.
    public var message: String? {
        switch self {
        case .passed(let note): note
        case .failed(let why), .skipped(let why), .flaky(let why), .warned(let why), .error(let why): why
        case .expectedFailure: "failed, as `result: xfail` expects"
        case .info: "result: info (informational only)"
        }
    }

    /// How vmtest's own test cases are judged: by exit status, 77 a skip where the test's
    /// kind says so (GNOME installed tests).
    static func byExitStatus(_ status: Int32, skipsOnExit77: Bool) -> SuiteOutcome {
        switch status {
        case 0: .passed()
        case 77 where skipsOnExit77: .skipped("the test skipped itself (exit 77)")
        default: .failed("exit status \(status)")
        }
    }
}
