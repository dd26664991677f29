import Foundation
import Testing

@testable import VMTest

/// The guest commands for DEP-8 and tmt tests, run here with bash (they are plain shell,
/// as the guest runs them), and the verdict tables of both formats.
@Suite struct SuiteExecutionTests {
    struct Finished {
        var status: Int32
        var output: String
        var error: String
    }

    /// Runs `command` with bash through Subprocess: awaited, so no cooperative thread is
    /// held while the command sleeps (the GuestShell tests beside these need them).
    static func bash(_ command: String) async throws -> Finished {
        let finished = try await ExternalTool("bash", debianPackage: "bash").finish(["-c", command])
        return Finished(status: finished.exitStatus, output: finished.standardOutput, error: finished.standardError)
    }

    static func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-suite-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func dep8ScriptRunsFromTheSourceTreeWithItsDirectories() async throws {
        let root = try Self.folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let source = root.appendingPathComponent("source")
        try FileManager.default.createDirectory(at: source.appendingPathComponent("debian/tests"), withIntermediateDirectories: true)
        // No execute bit: autopkgtest makes the script executable itself.
        try """
        #!/bin/sh
        set -e
        echo "cwd=$(pwd)"
        echo "tmp-empty=$(ls -A "$AUTOPKGTEST_TMP" | wc -l)"
        echo "$AUTOPKGTEST_TMP" > "$AUTOPKGTEST_ARTIFACTS/tmp-was"
        echo "user=$AUTOPKGTEST_NORMAL_USER name=$AUTOPKGTEST_TEST_NAME"
        exit 3
        """.write(to: source.appendingPathComponent("debian/tests/smoke"), atomically: true, encoding: .utf8)
        let test = DEP8Test(
            name: "smoke", program: .script(path: "debian/tests/smoke"), restrictions: [.needsRoot],
            depends: DebianDependency(clauses: []), line: 1)
        let execution = DEP8Execution(sourceDirectory: source.path, artifactsDirectory: root.appendingPathComponent("artifacts").path)
        let finished = try await Self.bash(execution.command(for: test))
        #expect(finished.status == 3)
        #expect(finished.output.contains("cwd=\(source.path)\n"))
        #expect(finished.output.contains("tmp-empty=0\n"))
        #expect(finished.output.contains("user=vmtest-tests name=smoke"))
        #expect(finished.error.isEmpty, "the wrapper writes nothing on stderr: \(finished.error)")
        let tmp = try String(contentsOf: root.appendingPathComponent("artifacts/smoke/tmp-was"), encoding: .utf8)
        #expect(!FileManager.default.fileExists(atPath: tmp.trimmingCharacters(in: .newlines)), "AUTOPKGTEST_TMP is removed afterwards")
    }

    @Test func dep8CommandRunsUnderBashE() async throws {
        let root = try Self.folder()
        defer { try? FileManager.default.removeItem(at: root) }
        let execution = DEP8Execution(sourceDirectory: root.path, artifactsDirectory: root.appendingPathComponent("a").path)
        let test = DEP8Test(
            name: "command1", program: .command("echo one; false; echo never"), restrictions: [.needsRoot],
            depends: DebianDependency(clauses: []), line: 1)
        let finished = try await Self.bash(execution.command(for: test))
        #expect(finished.status == 1)
        #expect(finished.output == "one\n")
    }

    @Test(arguments: [
        ([DEP8Restriction](), Int32(0), "", SuiteOutcome.passed()),
        ([], 0, "warning: x\n", .failed("output on stderr (without allow-stderr): warning: x")),
        ([.allowStderr], 0, "warning: x\n", .passed()),
        ([], 0, "\n  \n", .passed()),
        ([], 2, "", .failed("non-zero exit status 2")),
        ([.skippable], 77, "", .skipped("exit status 77 (skippable)")),
        ([], 77, "", .failed("non-zero exit status 77")),
        ([.flaky], 1, "", .flaky("non-zero exit status 1")),
        ([.flaky], 0, "", .passed()),
        ([.superficial], 0, "", .passed(note: "superficial: a weak sign the package works")),
    ])
    func dep8Verdicts(restrictions: [DEP8Restriction], status: Int32, error: String, expected: SuiteOutcome) {
        let test = DEP8Test(
            name: "t", program: .command("true"), restrictions: Set(restrictions),
            depends: DebianDependency(clauses: []), line: 1)
        #expect(DEP8Execution.judge(test, exitStatus: status, standardError: error) == expected)
    }

    static func tmtTest(_ yaml: String) throws -> TMTTest {
        let root = try FMFTreeTests.tree(["tests/t.fmf": yaml])
        defer { try? FileManager.default.removeItem(at: root) }
        return try #require(try FMFTree.read(root: root).nodes.compactMap(TMTTest.from).first)
    }

    @Test func tmtTestRunsInItsDirectoryWithItsEnvironmentAndDataFolder() async throws {
        let root = try Self.folder()
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("tree/tests"), withIntermediateDirectories: true)
        let test = try Self.tmtTest(
            "test: 'echo \"$(pwd) $GREETING $TMT_REBOOT_COUNT\"; touch \"$TMT_TEST_DATA/made\"'\nenvironment: {GREETING: hello world}\n")
        let execution = TMTExecution(
            treeDirectory: root.appendingPathComponent("tree").path,
            dataDirectory: root.appendingPathComponent("data").path)
        let finished = try await Self.bash(execution.command(for: test, rebootCount: 1))
        #expect(finished.status == 0)
        #expect(finished.output == "\(root.path)/tree/tests hello world 1\n")
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent("data/tests/t/made").path))
    }

    @Test func tmtDurationIsTheTimeLimit() async throws {
        let root = try Self.folder()
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("tests"), withIntermediateDirectories: true)
        let test = try Self.tmtTest("test: sleep 30\nduration: 1s\n")
        let execution = TMTExecution(treeDirectory: root.path, dataDirectory: root.appendingPathComponent("data").path)
        // A `sleep 30` that ran to its end would exit 0 and pass: the time-out verdict is
        // the proof that the limit stopped it (no wall-clock assertion, which a loaded
        // test process breaks).
        let finished = try await Self.bash(execution.command(for: test))
        #expect(TMTExecution.judge(test, exitStatus: finished.status) == .error("timed out after 1 s (duration)"))
    }

    @Test(arguments: [
        ("respect", Int32(0), SuiteOutcome.passed()), ("respect", 1, .failed("non-zero exit status 1")),
        ("xfail", 1, .expectedFailure), ("xfail", 0, .failed("passed, but `result: xfail` expects a failure")),
        ("pass", 1, .passed(note: "result: pass")), ("info", 1, .info), ("warn", 0, .warned("result: warn")),
        ("error", 0, .error("result: error")), ("fail", 0, .failed("result: fail")),
    ])
    func tmtResults(result: String, status: Int32, expected: SuiteOutcome) throws {
        let test = try Self.tmtTest("test: 'true'\nresult: \(result)\n")
        #expect(TMTExecution.judge(test, exitStatus: status) == expected)
    }

    @Test func beakerlibJournalDecides() throws {
        let test = try Self.tmtTest("test: ./runtest.sh\nframework: beakerlib\n")
        #expect(
            TMTExecution.judge(test, exitStatus: 0, beakerlibResult: "TESTRESULT_RESULT_STRING=FAIL") == .failed("beakerlib reported FAIL"))
        #expect(TMTExecution.judge(test, exitStatus: 1, beakerlibResult: "TESTRESULT_RESULT_STRING=PASS") == .passed())
        #expect(
            TMTExecution.judge(test, exitStatus: 0, beakerlibResult: "")
                == .error("beakerlib left no result (is beakerlib installed in the guest?)"))
    }
}
