/// Reboots a test asks for, whatever wrote it: `vmtest-reboot` in a `--test` command or an
/// installed test, `/tmp/autopkgtest-reboot MARK` in a DEP-8 test, `tmt-reboot` in a tmt
/// test. The test is ended, the guest boots again from its disk (``GuestReboot``), and the
/// test runs again from its start, told how many reboots it has had (`VMTEST_REBOOT_COUNT`,
/// `TMT_REBOOT_COUNT`) or the mark it left (`AUTOPKGTEST_REBOOT_MARK`).
struct TestReboots: Sendable {
    /// Where the run's files are in the guest; the helpers' marks go to its `reboot/`.
    let guestDirectory: String
    /// Boots the guest again and returns the channel to use then.
    let reboot: @Sendable () async throws -> any GuestChannel

    /// How many times one test may have the guest rebooted before it counts as looping.
    static let limit = 5

    /// Runs a test; when it asked for a reboot (its helper left a mark and ended it), boots
    /// the guest again and runs it again with the mark and the count of reboots so far,
    /// until it ends without asking. Only that last run is judged and recorded, together
    /// with what the `afterwards` command printed then (a beakerlib journal's verdict).
    func run(
        _ name: String, kind: TestCaseResult.Kind, on channel: inout any GuestChannel, session: RunSession,
        timeout: Duration? = nil, afterwards: String? = nil,
        command: (_ mark: String?, _ count: Int) -> String, judge: ((CommandResult, _ afterwards: String?) -> SuiteOutcome)? = nil
    ) async throws {
        let start = ContinuousClock.now
        session.reporter.begin("test", name)
        var mark: String?
        var count = 0
        while true {
            let text = command(mark, count)
            let attempt = try await session.attempt(text, on: channel, timeout: timeout)
            // A helper ends the test it reboots with SIGKILL, so a test that exited 0 asked
            // for nothing: the mark is looked for only otherwise (one round trip saved per
            // passing test, which under TCG is a good part of a second).
            var requested = ""
            if !attempt.succeeded {
                let asked = try await channel.run(takeRebootMark, timeout: session.prepared.testTimeout)
                if asked.succeeded { requested = asked.standardOutput.trimmingCharacters(in: .newlines) }
            }
            guard !requested.isEmpty else {
                var printed: String?
                if let afterwards {
                    printed = try await channel.run(afterwards, timeout: session.prepared.testTimeout).standardOutput
                        .trimmingCharacters(in: .whitespacesAndNewlines)
                }
                _ = session.record(
                    kind: kind, name: name, command: text, attempt, since: start, judge: judge.map { judge in { judge($0, printed) } })
                return
            }
            guard count < Self.limit else {
                _ = session.error(
                    kind: kind, name: name, because: "asked for a reboot \(count + 1) times; vmtest stops at \(Self.limit)")
                return
            }
            count += 1
            mark = requested
            session.reporter.note("test \(name) asked for reboot \(count) (mark \(requested))")
            channel = try await rebootNow(on: channel, session: session)
        }
    }

    /// Boots the guest again and puts the helpers back (/tmp was emptied); the channel to
    /// use from then on. The reboot is a power cycle, so the guest first writes out what it
    /// has not yet, for every reboot here: the host keys a restored guest was given were
    /// found empty after one, and a taken reboot mark would come back.
    func rebootNow(on current: any GuestChannel, session: RunSession) async throws -> any GuestChannel {
        let synced = try await current.run("sync", timeout: session.prepared.testTimeout)
        guard synced.succeeded else { throw GuestStepError(step: "writing the guest's files to its disk", result: synced) }
        let channel = try await reboot()
        let helpers = try await channel.run(installHelpers, timeout: session.prepared.testTimeout)
        guard helpers.succeeded else { throw GuestStepError(step: "installing the reboot helpers again", result: helpers) }
        return channel
    }

    /// Where a reboot helper leaves its mark; writable by the tests' ordinary user too.
    var rebootFolder: String { Self.rebootFolder(in: guestDirectory) }
    var installHelpers: String { Self.installHelpers(in: guestDirectory) }

    static func rebootFolder(in guestDirectory: String) -> String { "\(guestDirectory)/reboot" }

    /// The reboot helpers tests call, as their frameworks name them: vmtest's own
    /// `vmtest-reboot`, autopkgtest's `/tmp/autopkgtest-reboot MARK` and tmt's
    /// `tmt-reboot`. Each leaves its mark and ends the test's process group; vmtest then
    /// boots the guest again. /tmp is emptied at boot, so they are put back after each reboot.
    static func installHelpers(in guestDirectory: String) -> String {
        let rebootFolder = rebootFolder(in: guestDirectory)
        let helper = """
            #!/bin/sh
            # vmtest: a reboot for the running test. Leave the mark, end the test; vmtest takes
            # the mark and flushes the disk before it power-cycles the guest.
            echo "${1:-reboot}" > \(rebootFolder)/mark
            kill -KILL 0
            """
        // printf is the shell's own: two processes in all (mkdir, chmod), not one a file,
        // and the helper's text crosses the console once.
        let places = ["/usr/local/bin/vmtest-reboot", "/usr/local/bin/tmt-reboot", "/tmp/autopkgtest-reboot"]
        let folder = ["set -e", "mkdir -p -m 1777 \(rebootFolder)", "[ -k \(rebootFolder) ] || chmod 1777 \(rebootFolder)"]
        let writes = ["vmtest_helper=\(ShellWords.quote(helper))"] + places.map { "printf '%s\\n' \"$vmtest_helper\" > \($0)" }
        return (folder + writes + ["chmod 755 \(places.joined(separator: " "))"]).joined(separator: "\n")
    }

    /// Prints the mark a helper left, and removes it for good (``rebootNow(on:session:)``
    /// flushes the removal to disk, or the guest would boot with the mark still there).
    var takeRebootMark: String {
        "if [ -f \(rebootFolder)/mark ]; then cat \(rebootFolder)/mark; rm -f \(rebootFolder)/mark; fi"
    }
}
