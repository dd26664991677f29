import Foundation

/// Runs the tests a packager already wrote (``TestSource``, from `--tests-from`) in the
/// guest: their tree copied in, what they depend on installed, each test run and judged as
/// its own format says, what each left behind (`AUTOPKGTEST_ARTIFACTS`, `TMT_TEST_DATA`)
/// brought back into the results.
struct PackagerTests: Sendable {
    let suite: TestSource
    /// Where the run's files are in the guest; the tree goes to its `suite/`.
    let guestDirectory: String

    /// The tree, as the one file that travels with the run's other files (a tar keeps
    /// modes and links, which a payload disk's file system and scp -r do not all keep).
    static let archiveName = "suite.tar"

    var treeDirectory: String { "\(guestDirectory)/suite" }
    var artifactsDirectory: String { "\(guestDirectory)/artifacts" }

    /// Dependencies the tests declare, as dpkg dependency strings: DEP-8 `Depends` (with
    /// `@` already replaced) and tmt's `require`, of the tests that will run.
    var dependencies: [String] {
        switch suite.tests {
        case .dep8(let tests):
            return tests.filter { $0.skipReason == nil && !$0.depends.isEmpty }.map(\.depends.description)
        case .tmt(let tests):
            return tests.flatMap(\.require)
        }
    }

    /// tmt's `recommend`: installed when the mirror has them, never a reason to fail.
    var recommendations: [String] {
        guard case .tmt(let tests) = suite.tests else { return [] }
        return tests.flatMap(\.recommend)
    }

    /// Packs the tree into `folder` for the payload.
    func pack(into folder: URL) async throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        _ = try await ExternalTool.tar.run(["-C", suite.root.path, "-cf", folder.appendingPathComponent(Self.archiveName).path, "."])
    }

    /// The guest command that unpacks the tree where the tests expect it.
    var unpackCommand: String {
        "set -e; rm -rf \(treeDirectory) \(artifactsDirectory); mkdir -p \(treeDirectory) \(artifactsDirectory); tar -C \(treeDirectory) -xf \(guestDirectory)/\(Self.archiveName)"
    }

    /// Runs every test in order, each one test case named as its metadata names it.
    ///
    /// - Parameter installer: the guest command that installs dependency strings, or nil
    ///   when the guest has no package repository vmtest serves (an RPM profile).
    /// - Parameter reboot: boots the guest again and returns the channel to use then; nil
    ///   when the channel cannot follow a reboot (SSH).
    /// - Returns: the channel to go on with: a new one when a test rebooted the guest.
    func run(
        on channel: any GuestChannel, session: RunSession, results: URL, installer: ((_ satisfy: [String]) -> String)?,
        reboot: (() async throws -> any GuestChannel)?
    ) async throws -> any GuestChannel {
        let kind: TestCaseResult.Kind = suite.format == .dep8 ? .dep8 : .tmt
        let unpacked = try await channel.run(unpackCommand + "\n" + installHelpers, timeout: session.prepared.testTimeout)
        guard unpacked.succeeded else { throw GuestStepError(step: "unpacking the tests' tree in the guest", result: unpacked) }
        if !dependencies.isEmpty {
            let installed: TestCaseResult
            if let installer {
                installed = try await session.test(
                    kind: .install, name: "install-test-dependencies", command: installer(dependencies), on: channel)
            } else {
                installed = session.error(
                    kind: .install, name: "install-test-dependencies",
                    because: "the tests need \(dependencies.joined(separator: ", ")), and vmtest serves packages to Debian guests only")
            }
            guard installed.verdict == .passed else {
                for name in suite.testNames { session.skip(kind: kind, name: name, because: "their dependencies did not install") }
                return channel
            }
        }
        if let installer, !recommendations.isEmpty {
            // Each on its own, so one the mirror lacks leaves the others.
            let each = recommendations.map { installer([$0]) + " || echo \"recommended \(ShellWords.quote($0)) not installed\"" }
            _ = try await channel.run(each.joined(separator: "\n"), timeout: session.prepared.testTimeout)
        }
        var channel = channel
        switch suite.tests {
        case .dep8(let tests):
            let execution = DEP8Execution(sourceDirectory: treeDirectory, artifactsDirectory: artifactsDirectory)
            let user = try await channel.run(execution.setupCommand, timeout: session.prepared.testTimeout)
            guard user.succeeded else { throw GuestStepError(step: "adding the tests' ordinary user", result: user) }
            // A test that breaks the testbed, or wants a machine of its own, runs after the
            // others: the guest is thrown away after the last.
            let ordered =
                tests.filter { !$0.has(.breaksTestbed) && !$0.has(.isolationMachine) }
                + tests.filter { $0.has(.breaksTestbed) || $0.has(.isolationMachine) }
            for test in ordered {
                if let reason = test.skipReason {
                    session.skip(kind: kind, name: test.name, because: reason)
                    continue
                }
                try await runResumingAfterReboots(test.name, kind: kind, on: &channel, session: session, reboot: reboot) { mark, _ in
                    execution.command(for: test, rebootMark: mark)
                } judge: { result, _ in
                    DEP8Execution.judge(test, exitStatus: result.exitStatus, standardError: result.standardError)
                }
                try await fetchArtifacts(
                    of: test.name, from: "\(artifactsDirectory)/\(test.name)", on: channel, session: session, results: results)
            }
        case .tmt(let tests):
            let execution = TMTExecution(treeDirectory: treeDirectory, dataDirectory: artifactsDirectory)
            for test in tests {
                // tmt's own limit ends the test (`timeout` in the guest); the channel's is a
                // backstop for a guest that stops answering.
                // A beakerlib test's verdict is its journal's, read after it ends.
                let journal = test.framework == .beakerlib ? execution.beakerlibResultCommand(for: test) : nil
                try await runResumingAfterReboots(
                    test.name, kind: kind, on: &channel, session: session, reboot: reboot, timeout: test.duration + .seconds(60),
                    afterwards: journal
                ) { _, count in
                    execution.command(for: test, rebootCount: count)
                } judge: { result, journal in
                    TMTExecution.judge(test, exitStatus: result.exitStatus, beakerlibResult: journal)
                }
                try await fetchArtifacts(
                    of: test.name, from: execution.dataFolder(for: test), on: channel, session: session, results: results)
            }
        }
        return channel
    }

    /// How many times one test may have the guest rebooted before it counts as looping.
    static let rebootLimit = 5

    /// Runs a test; when it asked for a reboot (its helper left a mark and ended it), boots
    /// the guest again and runs it again with the mark and the count of reboots so far,
    /// until it ends without asking. Only that last run is judged and recorded, together
    /// with what the `afterwards` command printed then (a beakerlib journal's verdict).
    private func runResumingAfterReboots(
        _ name: String, kind: TestCaseResult.Kind, on channel: inout any GuestChannel, session: RunSession,
        reboot: (() async throws -> any GuestChannel)?, timeout: Duration? = nil, afterwards: String? = nil,
        command: (_ mark: String?, _ count: Int) -> String, judge: @escaping (CommandResult, _ afterwards: String?) -> SuiteOutcome
    ) async throws {
        let start = ContinuousClock.now
        session.reporter.begin("test", name)
        var mark: String?
        var count = 0
        while true {
            let text = command(mark, count)
            let attempt = try await session.attempt(text, on: channel, timeout: timeout)
            let asked = try await channel.run(takeRebootMark, timeout: session.prepared.testTimeout)
            let requested = asked.standardOutput.trimmingCharacters(in: .newlines)
            guard asked.succeeded, !requested.isEmpty else {
                var printed: String?
                if let afterwards {
                    printed = try await channel.run(afterwards, timeout: session.prepared.testTimeout).standardOutput
                        .trimmingCharacters(in: .whitespacesAndNewlines)
                }
                _ = session.record(kind: kind, name: name, command: text, attempt, since: start) { judge($0, printed) }
                return
            }
            guard let reboot else {
                _ = session.error(kind: kind, name: name, because: "asked for a reboot; vmtest reboots guests on the serial channel only")
                return
            }
            guard count < Self.rebootLimit else {
                _ = session.error(
                    kind: kind, name: name, because: "asked for a reboot \(count + 1) times; vmtest stops at \(Self.rebootLimit)")
                return
            }
            count += 1
            mark = requested
            session.reporter.note("test \(name) asked for reboot \(count) (mark \(requested))")
            channel = try await reboot()
            let helpers = try await channel.run(installHelpers, timeout: session.prepared.testTimeout)
            guard helpers.succeeded else { throw GuestStepError(step: "installing the reboot helpers again", result: helpers) }
        }
    }

    /// Where a reboot helper leaves its mark; writable by the tests' ordinary user too.
    var rebootFolder: String { "\(guestDirectory)/reboot" }

    /// The reboot helpers tests call, as their frameworks name them: autopkgtest's
    /// `/tmp/autopkgtest-reboot MARK` and tmt's `tmt-reboot`. Each leaves its mark and
    /// ends the test's process group; vmtest then boots the guest again. /tmp is
    /// emptied at boot, so they are put back after each reboot.
    var installHelpers: String {
        let helper = """
            #!/bin/sh
            # vmtest: a reboot for the running test. Leave the mark, flush the disk, end the test.
            echo "${1:-tmt-reboot}" > \(rebootFolder)/mark
            sync
            kill -KILL 0
            """
        return [
            "set -e", "mkdir -p \(rebootFolder)", "chmod 1777 \(rebootFolder)",
            "cat > /usr/local/bin/tmt-reboot <<'VMTEST_EOF'\n\(helper)\nVMTEST_EOF",
            "chmod 755 /usr/local/bin/tmt-reboot", "cp /usr/local/bin/tmt-reboot /tmp/autopkgtest-reboot",
        ].joined(separator: "\n")
    }

    /// Prints the mark a helper left, and removes it for good: the removal is flushed to
    /// disk before the power cycle, or the guest would boot with the mark still there.
    var takeRebootMark: String {
        "if [ -f \(rebootFolder)/mark ]; then cat \(rebootFolder)/mark; rm -f \(rebootFolder)/mark; sync; fi"
    }

    /// Brings a test's artifacts folder back into `results/artifacts/NAME`, when the test
    /// left anything there: as a base64 tar on the channel, which every channel carries.
    private func fetchArtifacts(
        of name: String, from folder: String, on channel: any GuestChannel, session: RunSession, results: URL
    ) async throws {
        let quoted = ShellWords.quote(folder)
        let packed = try await channel.run(
            "[ -d \(quoted) ] && [ -n \"$(ls -A \(quoted))\" ] || exit 0; tar -C \(quoted) -cz . | base64 -w 0",
            timeout: session.prepared.testTimeout)
        let encoded = packed.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        guard packed.succeeded, !encoded.isEmpty, let archive = Data(base64Encoded: encoded) else { return }
        let local = results.appendingPathComponent("artifacts").appendingPathComponent(
            name.split(separator: "/").joined(separator: "_"))
        try FileManager.default.createDirectory(at: local, withIntermediateDirectories: true)
        let file = local.appendingPathExtension("tar.gz")
        try archive.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        _ = try await ExternalTool.tar.run(["-C", local.path, "-xzf", file.path])
    }
}
