import Foundation

/// Everything a finished run says about itself: what ran where, how long each phase
/// took, and each test's verdict. Written as summary.json and junit.xml.
public struct RunReport: Sendable, Codable, Hashable {
    public var runID: String
    public var profile: String
    public var imageSHA256: String?
    public var host: HostSummary
    /// How the guest ran; nil when the run never reached a hypervisor that could say.
    public var accelerator: Accelerator?
    /// The architecture the guest's kernel ran in: armv7l, or aarch64 for a 64-bit kernel
    /// under an armhf userland.
    public var guestKernel: GuestArchitecture?
    /// Why it ran this way, in words.
    public var acceleratorReason: String?
    public var channel: String
    public var workarounds: [AppliedWorkaround]
    public var packages: [PackageSummary]
    public var phases: [PhaseTiming]
    /// The saved state the guest was restored from; nil when it booted cold (or never started).
    public var warmState: String? = nil
    public var tests: [TestCaseResult]
    /// Set when the machinery failed (boot time-out, libvirt error, lost console).
    public var infrastructureError: String?
    public var startedAt: Date
    public var seconds: Double

    public struct HostSummary: Sendable, Codable, Hashable {
        public var hostname: String
        public var architecture: String
        public var connection: String
    }

    public struct PackageSummary: Sendable, Codable, Hashable {
        public var file: String
        public var name: String
    }

    public struct AppliedWorkaround: Sendable, Codable, Hashable {
        public var name: String
        public var reason: String
    }

    /// A run's verdict (passed, failed, error), or one test's. The tests packagers write
    /// have outcomes of their own (tmt's xfail, warn and info, autopkgtest's flaky), kept
    /// as such so a report says what the test's metadata said, not a folded pass or fail.
    public enum Verdict: String, Sendable, Codable, Hashable {
        case passed, failed, skipped
        /// The run broke before a verdict: counted as an error in JUnit, not a failure.
        case error
        /// The test failed, and its metadata expects that (tmt `result: xfail`).
        case xfail
        /// A DEP-8 `flaky` test failed: reported, not counted as a failure.
        case flaky
        /// tmt `result: warn`, or beakerlib's WARN: counted as a failure, as tmt does.
        case warn
        /// tmt `result: info`: informational, never a failure.
        case info

        /// Whether a test with this verdict fails the run.
        public var failsTheRun: Bool { self == .failed || self == .error || self == .warn }

        /// The outcomes packagers' test formats have and JUnit does not.
        public static let packagersOwn: [Verdict] = [.xfail, .flaky, .warn, .info]
    }

    public var verdict: Verdict {
        if infrastructureError != nil { return .error }
        return tests.contains { $0.verdict.failsTheRun } ? .failed : .passed
    }

    /// 0 all passed, 1 a test failed, 3 the machinery failed.
    public var exitStatus: Int32 {
        switch verdict {
        case .error: return ExitStatus.infrastructure
        case let verdict where verdict.failsTheRun: return ExitStatus.testFailed
        default: return ExitStatus.success
        }
    }
}

/// One test case: a check, its output and its verdict.
public struct TestCaseResult: Sendable, Codable, Hashable {
    /// Group in JUnit (its classname) and summary.json.
    public var kind: Kind
    public var name: String
    public var command: String
    public var verdict: RunReport.Verdict
    public var exitStatus: Int32?
    public var seconds: Double
    public var standardOutput: String
    public var standardError: String
    /// Why it failed or was skipped, in one line.
    public var message: String?

    /// Where a test case comes from; the raw values are what reports have always said.
    public enum Kind: String, Sendable, Codable, Hashable {
        case install
        /// `--update`: the installed system upgraded, and its health after it.
        case update
        case health
        case smoke
        /// A GNOME installed-test (`/usr/share/installed-tests/PACKAGE/*.test`).
        case installedTests = "installed-tests"
        case command
        case testsDir = "tests-dir"
        /// A DEP-8 test from `debian/tests/control` (`--tests-from`).
        case dep8
        /// A tmt test from an fmf tree (`--tests-from`).
        case tmt
        /// A test that never ran because an earlier step failed.
        case skipped

        /// Exit status 77 means "skipped" to the installed-tests runner, and only there.
        var skipsOnExit77: Bool { self == .installedTests }
    }
}

extension RunReport {
    /// The report of a run that never started: its hypervisor did not answer, or could not
    /// run it the way it was asked to.
    public static func notStarted(_ inputs: RunInputs, connection: String, problem: String) -> RunReport {
        RunReport(
            runID: inputs.runID, profile: inputs.request.profile.name, imageSHA256: nil,
            host: .init(hostname: ProcessInfo.processInfo.hostName, architecture: "unknown", connection: connection),
            accelerator: nil, guestKernel: nil, acceleratorReason: nil, channel: inputs.channel.rawValue,
            workarounds: [], packages: inputs.packages.map { .init(file: $0.file.path, name: $0.name) },
            phases: [], tests: [], infrastructureError: problem, startedAt: Date(), seconds: 0)
    }
}
