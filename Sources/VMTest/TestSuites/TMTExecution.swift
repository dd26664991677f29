/// How vmtest runs a tmt test in the guest and judges it, following tmt's specification:
/// from the test's directory, `TMT_TEST_DATA` kept for the results, the test's `duration`
/// as its time limit, its `environment` set, beakerlib's own journal read for beakerlib
/// tests, and `result` deciding what the outcome means.
public struct TMTExecution: Sendable {
    /// Where the fmf tree is in the guest.
    public var treeDirectory: String
    /// Each test's data folder (`TMT_TEST_DATA`) is one under this, named after the test.
    public var dataDirectory: String

    public init(treeDirectory: String, dataDirectory: String) {
        self.treeDirectory = treeDirectory
        self.dataDirectory = dataDirectory
    }

    /// The exit status `timeout` gives a test that ran out of time.
    static let timedOutStatus: Int32 = 124

    public func dataFolder(for test: TMTTest) -> String {
        "\(dataDirectory)\(test.name)"
    }

    public func command(for test: TMTTest, rebootCount: Int = 0) -> String {
        let data = ShellWords.quote(dataFolder(for: test))
        let directory = ShellWords.quote(test.directory == "." ? treeDirectory : "\(treeDirectory)/\(test.directory)")
        var environment = test.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\(ShellWords.quote($0.value))" }
        environment += [
            "TMT_TEST_DATA=\(data)", "TMT_TREE=\(ShellWords.quote(treeDirectory))", "TMT_TEST_NAME=\(ShellWords.quote(test.name))",
            "TMT_REBOOT_COUNT=\(rebootCount)", "TMT_TEST_RESTART_COUNT=\(rebootCount)",
        ]
        if test.framework == .beakerlib { environment.append("BEAKERLIB_DIR=\(data)") }
        let seconds = max(1, Int(test.duration.components.seconds))
        return [
            "mkdir -p \(data) || exit 125",
            "cd \(directory) || exit 125",
            // `exit $?` keeps the shell from exec-ing timeout, so a test that ignored SIGTERM
            // and was killed still ends with a status (137) instead of a dead shell.
            "env \(environment.joined(separator: " ")) timeout --kill-after=5 \(seconds) bash -c \(ShellWords.quote(test.command))",
            "exit $?",
        ].joined(separator: "\n")
    }

    /// For beakerlib tests, the command that prints the journal's verdict line
    /// (`TESTRESULT_RESULT_STRING=PASS`), run after the test.
    public func beakerlibResultCommand(for test: TMTTest) -> String {
        "cat \(ShellWords.quote(dataFolder(for: test) + "/TestResults")) 2>/dev/null | grep '^TESTRESULT_RESULT_STRING=' || true"
    }

    /// tmt's verdict: the test's own outcome (exit status, or beakerlib's journal), then
    /// `result` on top of it. Running out of time is an error whatever `result` says.
    public static func judge(_ test: TMTTest, exitStatus: Int32, beakerlibResult: String? = nil) -> SuiteOutcome {
        if exitStatus == timedOutStatus || exitStatus == 137 {
            return .error("timed out after \(test.duration.components.seconds) s (duration)")
        }
        var own: SuiteOutcome = exitStatus == 0 ? .passed() : .failed("non-zero exit status \(exitStatus)")
        if test.framework == .beakerlib {
            switch beakerlibResult?.split(separator: "=").last.map(String.init) {
            case "PASS": own = .passed()
            case "WARN": own = .warned("beakerlib reported WARN")
            case "SKIP": own = .skipped("beakerlib reported SKIP")
            case "FAIL": own = .failed("beakerlib reported FAIL")
            default: own = .error("beakerlib left no result (is beakerlib installed in the guest?)")
            }
        }
        switch test.result {
        case .respect: return own
        case .xfail:
            switch own {
            case .failed: return .expectedFailure
            case .passed: return .failed("passed, but `result: xfail` expects a failure")
            default: return own
            }
        case .pass: return .passed(note: "result: pass")
        case .info: return .info
        case .warn: return .warned("result: warn")
        case .error: return .error("result: error")
        case .fail: return .failed("result: fail")
        }
    }
}
