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

    /// Whether the run's verdict should count it as a failure.
    public var failsTheRun: Bool {
        switch self {
        case .failed, .error: true
        default: false
        }
    }
}
