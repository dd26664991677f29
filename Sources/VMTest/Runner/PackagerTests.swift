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
    /// - Parameter reboots: runs each test, again after each reboot it asks for.
    /// - Returns: the channel to go on with: a new one when a test rebooted the guest.
    func run(
        on channel: any GuestChannel, session: RunSession, results: URL, installer: ((_ satisfy: [String]) -> String)?,
        reboots: TestReboots
    ) async throws -> any GuestChannel {
        let kind: TestCaseResult.Kind = suite.format == .dep8 ? .dep8 : .tmt
        let unpacked = try await channel.run(unpackCommand, timeout: session.prepared.testTimeout)
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
                try await reboots.run(test.name, kind: kind, on: &channel, session: session) { mark, _ in
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
                try await reboots.run(
                    test.name, kind: kind, on: &channel, session: session, timeout: test.duration + .seconds(60), afterwards: journal
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
