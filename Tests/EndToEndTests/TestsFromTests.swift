import Foundation
import Testing

@testable import VMTest

/// `vmtest run --tests-from` in a real armhf guest: the DEP-8 tests of real Debian source
/// packages, fetched from Debian's mirror, against their armhf binary packages (which vmtest
/// finds as the tests' `Depends: @`, downloads and serves); and an fmf tree that uses tmt's
/// keys, run as tmt runs it.
@Suite(.serialized, .timeLimit(.minutes(20))) struct TestsFromTests {
    /// A Debian source package from the mirror (`apt-get source --download-only`, with an
    /// apt configuration of its own for the deb-src lists), cached beside vmtest's fixtures.
    static func debianSource(_ name: String) async throws -> URL {
        let cache = EndToEnd.directories.cache.appendingPathComponent("fixtures/sources")
        let downloads = cache.appendingPathComponent("downloads")
        if let dsc = try? FileManager.default.contentsOfDirectory(atPath: downloads.path).first(where: {
            $0.hasPrefix("\(name)_") && $0.hasSuffix(".dsc")
        }) {
            return downloads.appendingPathComponent(dsc)
        }
        let apt = cache.appendingPathComponent("apt")
        for folder in ["lists/partial", "cache/archives/partial", "etc"] {
            try FileManager.default.createDirectory(at: apt.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        try FileManager.default.createDirectory(at: downloads, withIntermediateDirectories: true)
        let sources = apt.appendingPathComponent("etc/sources.list")
        try "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main\n"
            .write(to: sources, atomically: true, encoding: .utf8)
        let options = [
            "-q", "-o", "Dir::Etc::SourceList=\(sources.path)", "-o", "Dir::Etc::SourceParts=-",
            "-o", "Dir::State::Lists=\(apt.appendingPathComponent("lists").path)", "-o",
            "Dir::Cache=\(apt.appendingPathComponent("cache").path)",
            "-o", "APT::Sandbox::User=root",
        ]
        let update = try await ExternalTool.aptGet.finish(options + ["update"])
        try #require(update.succeeded, "apt-get update (deb-src): \(update.standardError)")
        let fetched = try await ExternalTool.aptGet.finish(options + ["source", "--download-only", name], workingDirectory: downloads.path)
        try #require(fetched.succeeded, "apt-get source \(name): \(fetched.standardError)")
        let dsc = try #require(
            try FileManager.default.contentsOfDirectory(atPath: downloads.path).first { $0.hasPrefix("\(name)_") && $0.hasSuffix(".dsc") })
        return downloads.appendingPathComponent(dsc)
    }

    struct Summary: Decodable {
        struct Test: Decodable {
            var kind: String
            var name: String
            var verdict: String
            var message: String?
        }
        var tests: [Test]
    }

    static func summary(in results: URL) throws -> Summary {
        try JSONDecoder().decode(Summary.self, from: Data(contentsOf: results.appendingPathComponent("summary.json")))
    }

    @Test(arguments: [
        // hello: a Test-Command and an upstream test script that writes into the source tree.
        ("hello", ["command1", "upstream-tests"]),
        // antiword: a script comparing UTF-8 output against an expected file.
        ("antiword", ["smoke"]),
    ])
    func aRealSourcePackagesDEP8TestsPassAgainstItsArmhfBinaries(_ source: String, _ names: [String]) async throws {
        _ = try await EndToEnd.debianProfile()
        let dsc = try await Self.debianSource(source)
        let results = RunTests.results("dep8-\(source)")
        defer { try? FileManager.default.removeItem(at: results) }
        let run = try await EndToEnd.vmtest(["run", "debian12-armhf", "--tests-from", dsc.path, "--results", results.path])
        #expect(run.status == 0, "stderr: \(run.error)")
        #expect(run.error.contains("DEP-8 tests from"), "vmtest says what it found: \(run.error)")
        let tests = try Self.summary(in: results).tests
        #expect(tests.first?.name == "install-test-dependencies" && tests.first?.verdict == "passed", "\(tests)")
        #expect(tests.filter { $0.kind == "dep8" }.map(\.name) == names)
        #expect(tests.allSatisfy { $0.verdict == "passed" }, "\(tests)")
        let junit = try String(contentsOf: results.appendingPathComponent("junit.xml"), encoding: .utf8)
        for name in names { #expect(junit.contains("classname='debian12-armhf.dep8' name='\(name)'"), "\(junit)") }
        let log = try String(contentsOf: results.appendingPathComponent("tests/01-install-test-dependencies.log"), encoding: .utf8)
        #expect(log.contains("Setting up \(source)"), "the binary package came from the served repository: \(log)")
    }

    /// Writes `files` (path relative to the tree: contents) under a new folder.
    static func tree(_ name: String, _ files: [String: String]) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-e2e-tree-\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: root)
        for (path, text) in files {
            let file = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
        return root
    }

    @Test func anFmfTreeRunsAsTmtRunsIt() async throws {
        _ = try await EndToEnd.debianProfile()
        let root = try Self.tree(
            "fmf",
            [
                ".fmf/version": "1\n",
                // Inherited by every test below: the environment (merged with `+`) and a duration.
                "main.fmf": """
                duration: 2m
                environment:
                    GREETING: hello
                tag: [fast]

                """,
                "tests/main.fmf": """
                environment+:
                    PLACE: guest

                /inherits:
                    summary: environment merged from both levels
                    test: test "$GREETING $PLACE" = "hello guest"
                /require:
                    test: echo '{"a":41}' | jq '.a + 1' | grep -x 42
                    require: [jq]
                /xfail:
                    test: exit 1
                    result: xfail
                /times-out:
                    test: sleep 60
                    duration: 5s
                /data:
                    test: ./write-data.sh
                /slow:
                    test: "true"
                    tag+: [slow]
                /disabled:
                    test: "false"
                    enabled: false
                /path:
                    summary: runs from the folder `path` names, with what it recommends that exists
                    path: /tests/files
                    framework: shell
                    test: ./here.sh
                    recommend: [vmtest-no-such-package, tree]
                /reboot:
                    summary: resumed after tmt-reboot with the count, what it wrote kept
                    test: |
                        if [ "$TMT_REBOOT_COUNT" -eq 0 ]; then echo before > /var/tmp/kept; tmt-reboot; fi
                        test "$TMT_REBOOT_COUNT" -eq 1 && grep -x before /var/tmp/kept

                """,
                "tests/write-data.sh": "#!/bin/sh\necho \"kept by $TMT_TEST_NAME\" > \"$TMT_TEST_DATA/out.txt\"\n",
                "tests/files/here.sh": "#!/bin/sh\ntest -f beside-here && command -v tree\n",
                "tests/files/beside-here": "",
            ])
        defer { try? FileManager.default.removeItem(at: root) }
        for script in ["tests/write-data.sh", "tests/files/here.sh"] {
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root.appendingPathComponent(script).path)
        }
        let results = RunTests.results("fmf")
        defer { try? FileManager.default.removeItem(at: results) }
        let run = try await EndToEnd.vmtest([
            "run", "debian12-armhf", "--tests-from", root.path, "--filter", "tag:-slow", "--results", results.path,
        ])
        #expect(run.status == 1, "a test that ran out of its duration fails the run: \(run.error)")
        #expect(run.error.contains("tmt tests from the fmf tree"), "\(run.error)")
        #expect(run.error.contains("7 selected, 2 left out"), "\(run.error)")
        let tests = try Self.summary(in: results).tests
        let verdicts = Dictionary(tests.map { ($0.name, $0.verdict) }, uniquingKeysWith: { first, _ in first })
        #expect(verdicts["install-test-dependencies"] == "passed", "jq is required: \(tests)")
        #expect(verdicts["/tests/inherits"] == "passed", "\(tests)")
        #expect(verdicts["/tests/require"] == "passed", "\(tests)")
        #expect(verdicts["/tests/xfail"] == "xfail", "\(tests)")
        #expect(verdicts["/tests/times-out"] == "error", "\(tests)")
        #expect(tests.first { $0.name == "/tests/times-out" }?.message?.contains("timed out after 5 s") == true, "\(tests)")
        #expect(verdicts["/tests/data"] == "passed", "\(tests)")
        #expect(verdicts["/tests/reboot"] == "passed", "\(tests)")
        #expect(verdicts["/tests/path"] == "passed", "ran in tests/files, tree recommended and installed: \(tests)")
        #expect(run.error.contains("test /tests/reboot asked for reboot 1"), "\(run.error)")
        #expect(verdicts["/tests/slow"] == nil && verdicts["/tests/disabled"] == nil, "\(tests)")
        let data = try String(contentsOf: results.appendingPathComponent("artifacts/tests_data/out.txt"), encoding: .utf8)
        #expect(data == "kept by /tests/data\n")
        let junit = try String(contentsOf: results.appendingPathComponent("junit.xml"), encoding: .utf8)
        #expect(junit.contains("<property name='verdict' value='xfail'/>"), "\(junit)")
        #expect(run.error.contains("1 xfail"), "the summary line counts it: \(run.error)")
    }

    @Test func dep8RestrictionsAndAReboot() async throws {
        _ = try await EndToEnd.debianProfile()
        let script = { (body: String) in "#!/bin/sh\nset -e\n\(body)\n" }
        let root = try Self.tree(
            "dep8",
            [
                "debian/tests/control": """
                Tests: resumes
                Restrictions: needs-root, needs-reboot

                Tests: unprivileged

                Tests: noisy
                Restrictions: allow-stderr

                Tests: chatty-stderr

                Tests: maybe
                Restrictions: skippable

                Tests: wobbly
                Restrictions: flaky

                Tests: breaker
                Restrictions: breaks-testbed, needs-root

                Tests: online
                Restrictions: needs-internet

                Test-Command: test -w "$AUTOPKGTEST_TMP" && echo artifact > "$AUTOPKGTEST_ARTIFACTS/out.txt"
                Features: test-name=artifacts
                Restrictions: superficial

                """,
                "debian/tests/resumes": script(
                    """
                    case "${AUTOPKGTEST_REBOOT_MARK:-}" in
                    "") echo one > /var/tmp/step; /tmp/autopkgtest-reboot first ;;
                    first) grep -x one /var/tmp/step ;;
                    *) exit 1 ;;
                    esac
                    """),
                "debian/tests/unprivileged": script(#"test "$(id -u)" -ne 0 && touch written-beside-the-tests"#),
                "debian/tests/noisy": script("echo a warning >&2"),
                "debian/tests/chatty-stderr": script("echo a warning >&2"),
                "debian/tests/maybe": script("exit 77"),
                "debian/tests/wobbly": script("exit 3"),
                "debian/tests/breaker": script("rm -f /usr/bin/env"),
                "debian/tests/online": script("true"),
            ])
        defer { try? FileManager.default.removeItem(at: root) }
        let results = RunTests.results("dep8-restrictions")
        defer { try? FileManager.default.removeItem(at: results) }
        let run = try await EndToEnd.vmtest(["run", "debian12-armhf", "--tests-from", root.path, "--results", results.path])
        #expect(run.status == 1, "chatty-stderr fails the run: \(run.error)")
        let tests = try Self.summary(in: results).tests
        #expect(
            tests.map(\.name) == [
                "resumes", "unprivileged", "noisy", "chatty-stderr", "maybe", "wobbly", "online", "artifacts", "breaker",
            ],
            "breaks-testbed runs last: \(tests.map(\.name))")
        let verdicts = Dictionary(tests.map { ($0.name, $0.verdict) }, uniquingKeysWith: { first, _ in first })
        #expect(verdicts["resumes"] == "passed", "resumed after autopkgtest-reboot with its mark: \(tests)")
        #expect(run.error.contains("test resumes asked for reboot 1 (mark first)"), "\(run.error)")
        #expect(verdicts["unprivileged"] == "passed", "\(tests)")
        #expect(verdicts["noisy"] == "passed" && verdicts["chatty-stderr"] == "failed", "\(tests)")
        #expect(verdicts["maybe"] == "skipped" && verdicts["online"] == "skipped", "\(tests)")
        #expect(verdicts["wobbly"] == "flaky" && verdicts["breaker"] == "passed", "\(tests)")
        #expect(verdicts["artifacts"] == "passed", "\(tests)")
        let artifact = try String(contentsOf: results.appendingPathComponent("artifacts/artifacts/out.txt"), encoding: .utf8)
        #expect(artifact == "artifact\n")
        let junit = try String(contentsOf: results.appendingPathComponent("junit.xml"), encoding: .utf8)
        #expect(junit.contains("<flakyFailure"), "\(junit)")
        #expect(run.error.contains("1 flaky"), "\(run.error)")
    }
}
