import ArgumentParser
import Foundation
import VMTest

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Boot a guest, install RPMs, run their tests, write JUnit and JSON results, tear down.",
        discussion: """
            Exit status: 0 all tests passed, 1 a test failed, 2 bad input (nothing booted), \
            3 infrastructure failure, 130/143 interrupted. Results go to --results \
            (default ./vmtest-results/RUN-ID): junit.xml, summary.json, console.log, tests/*.log.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var acceleration: AcceleratorOptions

    @Argument(help: "Profile name or path to a profile file.", completion: profileNameCompletion)
    var profile: String

    @Option(name: .customLong("rpm"), help: "An RPM to install and test (repeatable).")
    var rpms: [String] = []

    @Option(
        name: .customLong("deb"),
        help: "A Debian package to install with apt and test (repeatable; Debian profiles). Its dependencies come from Debian's mirror.")
    var debs: [String] = []

    @Option(
        name: .customLong("repo"),
        help: "A directory of RPMs or .debs the packages may depend on, served to the guest's dnf, yum or apt (repeatable).")
    var repositories: [String] = []

    @Option(
        name: .customLong("update"),
        help: """
            An RPM, a .deb or a folder of them (repeatable) the installed system is upgraded to, after the --rpm/--deb \
            packages install (test case `update`); the guest reboots when a kernel, C library or init changed, \
            and its health is checked (test case `health`) before the tests run.
            """)
    var updates: [String] = []

    @Flag(help: "Reboot after --update whatever it changed.")
    var reboot = false

    @Option(name: .customLong("test"), help: "A shell command run as one more test case (repeatable).")
    var tests: [String] = []

    @Option(help: "A directory whose executable files are copied in and each run as a test case.")
    var testsDir: String?

    @Option(
        help: """
            Tests the packager already wrote: a source tree or Debian .dsc with debian/tests/control \
            (DEP-8, as autopkgtest runs them), or a directory holding an fmf tree (tmt).
            """)
    var testsFrom: String?

    @Option(help: "Which tmt tests to run, in tmt's filter syntax (`tag:-slow`, `tier:1 & tag:fast`).")
    var filter: String?

    @Option(help: "Command channel: serial or ssh (default: the profile's).")
    var channel: String?

    @Option(help: "Results directory (default: ./vmtest-results/RUN-ID).")
    var results: String?

    @Option(help: "Seconds the whole run may take (default: 1800 under TCG, 600 under KVM).")
    var timeout: Int?

    @Option(help: "Seconds one test may take (default: 600 under TCG, 120 under KVM).")
    var testTimeout: Int?

    @Flag(help: "Print summary.json on standard output.")
    var json = false

    @Flag(help: "Keep the guest running if anything fails, and print how to attach to it and remove it.")
    var keep = false

    @Flag(help: "Boot from the kernel instead of restoring the profile's saved ready state.")
    var cold = false

    @Flag(help: "Refuse RPMs whose executables are built for another machine than their label says (default: warn).")
    var strict = false

    @Option(name: .customLong("workaround"), help: "Force a named workaround (repeatable; `vmtest workarounds` lists them).")
    var forcedWorkarounds: [String] = []

    @Option(name: .customLong("no-workaround"), help: "Disable a named workaround (repeatable).")
    var disabledWorkarounds: [String] = []

    func validate() throws {
        if let channel, ChannelKind(rawValue: channel) == nil {
            throw ValidationError("--channel must be serial or ssh, not '\(channel)'")
        }
        if let timeout, timeout <= 0 { throw ValidationError("--timeout must be a positive number of seconds") }
        if let testTimeout, testTimeout <= 0 { throw ValidationError("--test-timeout must be a positive number of seconds") }
        if rpms.isEmpty && debs.isEmpty && updates.isEmpty && tests.isEmpty && testsDir == nil && testsFrom == nil {
            throw ValidationError("nothing to test: give --rpm, --deb, --update, --test, --tests-dir or --tests-from")
        }
        if reboot && updates.isEmpty { throw ValidationError("--reboot reboots after an update: give --update") }
        if filter != nil && testsFrom == nil { throw ValidationError("--filter selects among --tests-from's tests: give --tests-from") }
    }

    func run() async throws {
        let global = global
        let name = profile
        let rpms = rpms
        let debs = debs
        let repositories = repositories
        let updates = updates
        let reboot = reboot
        let tests = tests
        let testsDir = testsDir
        let testsFrom = testsFrom
        let filter = filter
        let channel = channel.flatMap(ChannelKind.init(rawValue:))
        let results = results
        let json = json
        let keep = keep
        let strict = strict
        let cold = cold
        let forced = forcedWorkarounds
        let disabled = disabledWorkarounds
        let acceleration = acceleration.request
        let timeout = timeout.map { Duration.seconds($0) }
        let testTimeout = testTimeout.map { Duration.seconds($0) }
        try await runReportingErrors {
            let profile = try global.catalog.load(name)
            let launcher = GuestLauncher(reporter: LineReporter())
            let runner = PackageTestRunner(launcher: launcher)
            var request = RunRequest(
                profile: profile, rpmPaths: rpms, commands: tests, testsDirectory: testsDir, channel: channel,
                resultsDirectory: results, timeout: timeout, testTimeout: testTimeout, connectURI: global.connectURI,
                keepOnFailure: keep)
            request.debPaths = debs
            request.repositoryPaths = repositories
            request.updatePaths = updates
            request.rebootAfterUpdate = reboot
            request.testsFrom = testsFrom
            request.testFilter = filter
            request.strict = strict
            request.cold = cold
            request.accelerator = acceleration
            request.workarounds = try WorkaroundSelection(forced: forced, disabled: disabled)
            let inputs = try await runner.check(request)
            await launcher.reapLeftovers()
            let report = try await runner.run(inputs, connectURI: request.connectURI)
            if json, let data = try? RunResultsWriter.summaryJSON(report) {
                FileHandle.standardOutput.writeIfOpen(data + Data("\n".utf8))
            }
            RunSummaryPrinter.print(report, results: inputs.results)
            return report.exitStatus
        }
    }
}
