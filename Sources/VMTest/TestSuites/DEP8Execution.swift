/// How vmtest runs a DEP-8 test in the guest and judges what it did, following
/// autopkgtest's `README.package-tests`: from the source tree's root, `AUTOPKGTEST_TMP`
/// empty and removed afterwards, `AUTOPKGTEST_ARTIFACTS` kept for the results, as root only
/// with `needs-root` (otherwise as an ordinary user), output on stderr a failure unless
/// `allow-stderr`, exit 77 a skip when `skippable`, a `flaky` failure not a failure.
public struct DEP8Execution: Sendable {
    /// Where the source tree is in the guest.
    public var sourceDirectory: String
    /// Each test's artifacts go to a folder of this, named after the test.
    public var artifactsDirectory: String
    /// The ordinary user tests without `needs-root` run as (autopkgtest's
    /// `AUTOPKGTEST_NORMAL_USER`); made by ``setupCommand``.
    public var normalUser = "vmtest-tests"

    public init(sourceDirectory: String, artifactsDirectory: String) {
        self.sourceDirectory = sourceDirectory
        self.artifactsDirectory = artifactsDirectory
    }

    /// Run once before the tests: the ordinary user, with a home of its own, owning the
    /// source tree as autopkgtest makes it (tests without `needs-root` write beside their
    /// files, hello's upstream tests for one).
    public var setupCommand: String {
        "(id -u \(normalUser) >/dev/null 2>&1 || useradd --create-home --shell /bin/bash \(normalUser)) && chown -R \(normalUser) \(ShellWords.quote(sourceDirectory))"
    }

    /// The shell command that runs `test` in the guest; its exit status and streams are the test's.
    ///
    /// - Parameter rebootMark: the mark the test gave `autopkgtest-reboot` before the
    ///   reboot it is resumed after (`AUTOPKGTEST_REBOOT_MARK`).
    public func command(for test: DEP8Test, rebootMark: String? = nil) -> String {
        let source = ShellWords.quote(sourceDirectory)
        let artifacts = ShellWords.quote("\(artifactsDirectory)/\(test.name)")
        let program: String
        switch test.program {
        case .script(let path):
            let file = ShellWords.quote("\(sourceDirectory)/\(path)")
            program = "chmod a+x \(file) 2>/dev/null; exec \(file)"
        case .command(let command):
            program = "exec bash -ec \(ShellWords.quote(command))"
        }
        let asRoot = test.has(.needsRoot)
        let environment =
            [
                "AUTOPKGTEST_TMP=\"$tmp\"", "ADTTMP=\"$tmp\"", "AUTOPKGTEST_ARTIFACTS=\(artifacts)", "ADT_ARTIFACTS=\(artifacts)",
                "AUTOPKGTEST_TEST_NAME=\(ShellWords.quote(test.name))",
                // vmtest's shell runs with LC_ALL=C; Debian's CI testbeds run tests in
                // C.UTF-8, which tests expecting UTF-8 output (antiword's) are written for.
                "LC_ALL=C.UTF-8", "LANG=C.UTF-8",
            ] + (rebootMark.map { ["AUTOPKGTEST_REBOOT_MARK=\(ShellWords.quote($0))"] } ?? [])
            + (asRoot ? ["AUTOPKGTEST_NORMAL_USER=\(normalUser)", "HOME=/root"] : ["HOME=~\(normalUser)"])
        let user = asRoot ? "" : "runuser -u \(normalUser) -- "
        // The wrapper says nothing on stderr itself, so what is there is the test's.
        return [
            "tmp=$(mktemp -d /tmp/autopkgtest.XXXXXX) && mkdir -p \(artifacts) && chmod 1777 \"$tmp\" \(artifacts) || exit 125",
            "cd \(source) || exit 125",
            // A process group of its own, which `autopkgtest-reboot` ends (`kill -KILL 0`)
            // without taking the console's shell with it.
            "\(user)setsid -w env \(environment.joined(separator: " ")) sh -c \(ShellWords.quote(program))",
            "status=$?; rm -rf \"$tmp\"; exit $status",
        ].joined(separator: "\n")
    }

    /// autopkgtest's verdict for a finished test.
    public static func judge(_ test: DEP8Test, exitStatus: Int32, standardError: String) -> SuiteOutcome {
        if exitStatus == 77, test.has(.skippable) { return .skipped("exit status 77 (skippable)") }
        var failure: String?
        if exitStatus != 0 {
            failure = "non-zero exit status \(exitStatus)"
        } else if !test.has(.allowStderr), let line = standardError.split(separator: "\n").first(where: { !$0.allSatisfy(\.isWhitespace) })
        {
            failure = "output on stderr (without allow-stderr): \(line)"
        }
        if let failure { return test.has(.flaky) ? .flaky(failure) : .failed(failure) }
        return .passed(note: test.has(.superficial) ? "superficial: a weak sign the package works" : nil)
    }
}
