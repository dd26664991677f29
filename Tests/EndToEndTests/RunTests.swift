import Foundation
import Testing

@testable import VMTest

/// `vmtest run` as a user runs it: the real executable, real RPMs, a real armhf guest.
@Suite(.serialized, .timeLimit(.minutes(30))) struct RunTests {
    /// Builds the example RPMs (idempotent) and returns their paths by package name.
    static func examplePackages() async throws -> [String: String] {
        let built = try await EndToEnd.command(EndToEnd.repository.appendingPathComponent("script/build-examples"), [])
        guard built.status == 0 else {
            throw RunInputError(subject: "script/build-examples", problem: "failed", fix: "run it by hand")
        }
        var packages: [String: String] = [:]
        for path in built.output.split(separator: "\n") {
            let file = URL(fileURLWithPath: String(path)).lastPathComponent
            packages[String(file.prefix { !$0.isNumber }.dropLast())] = String(path)
        }
        return packages
    }

    static func results(_ name: String) -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-e2e-\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: directory)
        return directory
    }

    struct Summary: Decodable {
        struct Test: Decodable {
            var kind: String
            var name: String
            var verdict: String
            var standardError: String
        }
        struct Workaround: Decodable {
            var name: String
            var reason: String
        }
        var verdict: String
        var exitStatus: Int32
        var workarounds: [Workaround]
        var imageSHA256: String?
        var channel: String
        var tests: [Test]
        var phases: [PhaseTiming]
        var warmState: String?
    }

    static func summary(in directory: URL) throws -> Summary {
        try JSONDecoder().decode(Summary.self, from: Data(contentsOf: directory.appendingPathComponent("summary.json")))
    }

    @Test func aPassingAndAFailingPackageOverTheConsole() async throws {
        let profile = try await EndToEnd.debianProfile()
        let packages = try await Self.examplePackages()
        let hello = try #require(packages["vmtest-hello"])
        let failing = try #require(packages["vmtest-hello-failing"])
        let image = try #require(ImageStore(root: EndToEnd.directories.images).cached(profile))
        let results = Self.results("serial")

        let run = try await EndToEnd.vmtest([
            "run", "debian12-armhf", "--rpm", hello, "--rpm", failing, "--test", "uname -m | grep -x armv7l",
            "--test", "[ \"$(nproc)\" = 1 ]", "--workaround", "java-single-cpu",
            "--channel", "serial", "--results", results.path,
        ])
        #expect(run.status == 1, "a failing installed test makes the run fail; stderr: \(run.error)")
        let summary = try Self.summary(in: results)
        let verdicts = Dictionary(summary.tests.map { ($0.name, $0.verdict) }, uniquingKeysWith: { first, _ in first })
        #expect(verdicts["install"] == "passed")
        #expect(verdicts["rpm-verify vmtest-hello"] == "passed")
        #expect(verdicts["vmtest-hello/hello.test"] == "passed")
        #expect(verdicts["vmtest-hello-failing/hello.test"] == "failed")
        #expect(verdicts.contains { $0.key.hasPrefix("command 1") && $0.value == "passed" })
        #expect(summary.tests.first { $0.name == "vmtest-hello-failing/hello.test" }?.standardError.contains("FAIL") == true)
        #expect(summary.channel == "serial")
        // The Java workaround, forced: one pinned vCPU, said and recorded.
        #expect(summary.workarounds.map(\.name).contains("java-single-cpu"))
        #expect(run.error.contains("1 vCPU"))
        #expect(verdicts.contains { $0.key.hasPrefix("command 2") && $0.value == "passed" }, "the guest has one CPU")
        #expect(summary.imageSHA256 == image.diskSHA256)

        let junit = try String(contentsOf: results.appendingPathComponent("junit.xml"), encoding: .utf8)
        #expect(junit.contains("<testcase classname='debian12-armhf.installed-tests' name='vmtest-hello-failing/hello.test'"))
        #expect(junit.contains("<failure message='exit status 1'"))
        let console = try String(contentsOf: results.appendingPathComponent("console.log"), encoding: .utf8)
        #expect(console.contains("Linux version"), "console.log holds the guest's whole serial output")
        #expect(try await SHA256Sum.of(file: URL(fileURLWithPath: image.disk)) == image.diskSHA256, "the base image changed")
    }

    @Test func aPackageThatDoesNotInstallIsAFailedInstallTestCase() async throws {
        _ = try await EndToEnd.debianProfile()
        let broken = try #require(try await Self.examplePackages()["vmtest-broken-install"])
        let results = Self.results("broken")
        let run = try await EndToEnd.vmtest(["run", "debian12-armhf", "--rpm", broken, "--results", results.path])
        #expect(run.status == 1, "stderr: \(run.error)")
        let summary = try Self.summary(in: results)
        let install = try #require(summary.tests.first { $0.name == "install" })
        #expect(install.verdict == "failed")
        let log = try String(contentsOf: results.appendingPathComponent("tests/01-install.log"), encoding: .utf8)
        #expect(log.contains("refusing to install"), "the scriptlet's own words: \(log)")
        #expect(summary.tests.filter { $0.kind != "install" }.allSatisfy { $0.verdict == "skipped" })
        #expect(run.error.contains("FAILED install"))
    }

    /// An RPM that requires Java: dnf, which finds no Java in Debian's rpm database nor in
    /// the run's repository, fails the install test case and names what is missing. No
    /// Java workaround applies unasked (none reproduced a failure: `vmtest workarounds`).
    @Test func anRPMWhoseDependencyNobodyServesFailsTheInstallAndIsNamed() async throws {
        _ = try await EndToEnd.debianProfile()
        let java = try #require(try await Self.examplePackages()["vmtest-hello-needs-java"])
        let results = Self.results("java")
        defer { try? FileManager.default.removeItem(at: results) }
        let run = try await EndToEnd.vmtest(["run", "debian12-armhf", "--rpm", java, "--results", results.path])
        #expect(run.status == 1, "a package that cannot install is a failed test, not bad input: \(run.error)")
        let summary = try Self.summary(in: results)
        #expect(summary.workarounds.isEmpty, "\(summary.workarounds.map(\.name))")
        let install = try #require(summary.tests.first { $0.name == "install" })
        #expect(install.verdict == "failed")
        let log = try String(contentsOf: results.appendingPathComponent("tests/01-install.log"), encoding: .utf8)
        #expect(log.contains("java-17-openjdk-headless"), "the missing dependency is named: \(log)")
        #expect(summary.tests.dropFirst().allSatisfy { $0.verdict == "skipped" }, "\(summary.tests)")
    }

    /// A test that calls `vmtest-reboot` is ended, the guest (restored from its saved
    /// state) boots again from its disk, and the test runs again with VMTEST_REBOOT_COUNT=1,
    /// what it wrote before still there; the next test runs on the rebooted guest.
    @Test(arguments: ["serial", "ssh"]) func aTestThatRebootsRunsAgainAfterTheGuestComesBack(channel: String) async throws {
        _ = try await EndToEnd.debianProfile()
        let results = Self.results("reboot-\(channel)")
        defer { try? FileManager.default.removeItem(at: results) }
        let first =
            #"if [ "$VMTEST_REBOOT_COUNT" = 0 ]; then echo kept > /var/tmp/kept; vmtest-reboot; fi; test "$VMTEST_REBOOT_COUNT" = 1 && cat /var/tmp/kept"#
        let run = try await EndToEnd.vmtest([
            "run", "debian12-armhf", "--channel", channel, "--test", first,
            "--test", "cat /var/tmp/kept && echo count=$VMTEST_REBOOT_COUNT", "--results", results.path,
        ])
        #expect(run.status == 0, "stderr: \(run.error)")
        #expect(run.error.contains("asked for reboot 1"), "\(run.error)")
        #expect(run.error.contains("reboot: booting"), "\(run.error)")
        if channel == "ssh" { #expect(run.error.contains("ssh: connecting again after the reboot"), "\(run.error)") }
        let summary = try Self.summary(in: results)
        #expect(summary.channel == channel)
        #expect(summary.warmState != nil, "the guest was restored, then rebooted")
        #expect(summary.tests.map(\.verdict) == ["passed", "passed"], "\(summary.tests)")
        let log = try #require(
            try FileManager.default.contentsOfDirectory(atPath: results.appendingPathComponent("tests").path).first { $0.hasPrefix("02-") })
        let second = try String(contentsOf: results.appendingPathComponent("tests/\(log)"), encoding: .utf8)
        #expect(second.contains("kept\ncount=0"), "\(second)")
    }

    @Test func aPackageOverSSH() async throws {
        _ = try await EndToEnd.debianProfile()
        let hello = try #require(try await Self.examplePackages()["vmtest-hello"])
        let scripts = Self.results("scripts")
        try FileManager.default.createDirectory(at: scripts, withIntermediateDirectories: true)
        let script = scripts.appendingPathComponent("runs-as-root")
        try "#!/bin/sh\n[ \"$(id -u)\" = 0 ] && vmtest-hello --version\n".write(to: script, atomically: true, encoding: .utf8)
        chmod(script.path, 0o755)
        let results = Self.results("ssh")
        let run = try await EndToEnd.vmtest([
            "run", "debian12-armhf", "--rpm", hello, "--tests-dir", scripts.path, "--channel", "ssh", "--results", results.path, "--json",
            "--cold",
        ])
        #expect(run.status == 0, "stderr: \(run.error)")
        let summary = try Self.summary(in: results)
        #expect(summary.channel == "ssh")
        #expect(summary.verdict == "passed")
        #expect(summary.tests.map(\.name).contains("vmtest-hello/hello.test"))
        #expect(summary.tests.first { $0.name == "runs-as-root" }?.verdict == "passed")
        #expect(
            summary.phases.map(\.name).contains("sshd") && !summary.phases.map(\.name).contains("cloud-init"),
            "a cold SSH run waits for sshd with cloud-init's keys, not for cloud-init's end")
        #expect(run.output.contains("\"verdict\" : \"passed\""), "--json prints the summary")
    }

    @Test func ctrlCDuringASSHRunLeavesNoGuestOverlayKeyOrSeed() async throws {
        _ = try await EndToEnd.debianProfile()
        let hello = try #require(try await Self.examplePackages()["vmtest-hello"])
        let results = Self.results("interrupted")
        let run = try await EndToEnd.vmtest(
            ["run", "debian12-armhf", "--rpm", hello, "--channel", "ssh", "--results", results.path, "--cold"],
            interruptAfter: "ready: waiting")
        #expect(run.status == 130, "stderr: \(run.error)")
        let name = try #require(run.error.firstMatch(of: /starting (vmtest-[0-9a-z-]+)/)?.1)
        #expect(EndToEnd.qemuProcesses(forDomain: String(name)).isEmpty, "QEMU outlived Ctrl-C")
        let runDirectory = EndToEnd.directories.runs.appendingPathComponent(String(name.dropFirst("vmtest-".count)))
        #expect(!FileManager.default.fileExists(atPath: runDirectory.path), "overlay, key or seed left in \(runDirectory.path)")
        let summary = try Self.summary(in: results)
        #expect(summary.verdict == "error", "an interrupted run is reported, not passed")
    }

    /// A guest kernel that panics ends the run at once (`panic=-1` reboots it and the reboot
    /// destroys the domain); an oops would panic it too (`oops=panic`). The run exits 3 and
    /// names the panic's reason above the console's last lines, which are the log's last lines.
    @Test func aGuestKernelPanicEndsTheRunAndIsNamed() async throws {
        _ = try await EndToEnd.debianProfile()
        let results = Self.results("panic")
        defer { try? FileManager.default.removeItem(at: results) }
        let run = try await EndToEnd.vmtest([
            "run", "debian12-armhf", "--test", "[ \"$(cat /proc/sys/kernel/panic_on_oops)\" = 1 ]",
            "--test", "echo c > /proc/sysrq-trigger", "--test", "true", "--results", results.path,
        ])
        #expect(run.status == ExitStatus.infrastructure, "\(run.error)")
        #expect(run.error.contains("note: the guest kernel panicked: sysrq triggered crash\n"), "\(run.error)")
        let summary = try Self.summary(in: results)
        #expect(summary.verdict == "error")
        #expect(summary.tests.first?.verdict == "passed", "an oops panics the guest kernel: \(summary.tests)")
        let log = try String(contentsOf: results.appendingPathComponent("console.log"), encoding: .utf8)
        let expected = log.replacingOccurrences(of: "\r", with: "").split(separator: "\n").suffix(20).map(String.init)
        let printed = run.error.split(separator: "\n", omittingEmptySubsequences: false)
            .drop { $0 != "the serial console's last lines:" }.dropFirst()
            .prefix { $0.hasPrefix("  | ") }.map { String($0.dropFirst(4)) }
        #expect(printed == expected, "the serial console's last 20 lines, not more")
    }

    @Test func twoRunsAtOnceAndAKeptGuest() async throws {
        _ = try await EndToEnd.debianProfile()
        let passing = Self.results("concurrent-a")
        let failing = Self.results("concurrent-b")
        async let first = EndToEnd.vmtest(["run", "debian12-armhf", "--test", "uname -m", "--results", passing.path])
        async let second = EndToEnd.vmtest(["run", "debian12-armhf", "--test", "false", "--keep", "--results", failing.path])
        let (a, b) = try await (first, second)
        #expect(a.status == 0, "stderr: \(a.error)")
        #expect(b.status == 1, "stderr: \(b.error)")

        // The failed run's guest outlives its vmtest, as --keep promised, and can be reached.
        let name = try #require(b.error.firstMatch(of: /kept (vmtest-[0-9a-z-]+) running/)?.1)
        let uri = try #require(b.error.firstMatch(of: /virsh -c '([^']+)' console/)?.1)
        #expect(!EndToEnd.qemuProcesses(forDomain: String(name)).isEmpty, "the kept guest is not running")
        let state = Process()
        state.executableURL = URL(fileURLWithPath: "/usr/bin/virsh")
        state.arguments = ["-c", String(uri), "domstate", String(name)]
        let output = Pipe()
        state.standardOutput = output
        try state.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        state.waitUntilExit()
        #expect(text.contains("running"), "virsh domstate said: \(text)")

        // A plain clean leaves kept guests alone; --kept removes them.
        #expect(try await EndToEnd.vmtest(["clean"]).status == 0)
        #expect(!EndToEnd.qemuProcesses(forDomain: String(name)).isEmpty, "clean removed a kept guest")
        let cleaned = try await EndToEnd.vmtest(["clean", "--kept"])
        #expect(cleaned.status == 0)
        try await Task.sleep(for: .milliseconds(500))
        #expect(EndToEnd.qemuProcesses(forDomain: String(name)).isEmpty, "clean --kept left the guest running")
        let runDirectory = EndToEnd.directories.runs.appendingPathComponent(String(name.dropFirst("vmtest-".count)))
        #expect(!FileManager.default.fileExists(atPath: runDirectory.path))
    }

    /// Where the bad-input table's files are: broken RPMs, .debs and profiles.
    static let fixtures = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-bad-inputs-\(getpid())")

    /// Makes the bad-input files once, on a thread of its own: rpmbuild and dpkg-deb take
    /// seconds, which must not hold one of the test process's two cooperative threads.
    static let fixturesMade = Task {
        let examples = try? await examplePackages()
        return try? await onThreadOfItsOwn { makeFixtures(hello: examples?["vmtest-hello"].map { URL(fileURLWithPath: $0) }) }
    }

    private static func makeFixtures(hello: URL?) -> URL {
        let directory = fixtures
        // Shared by the table's cases, which run side by side: removed when the process ends.
        atexit { try? FileManager.default.removeItem(at: RunTests.fixtures) }
        try? FileManager.default.createDirectory(at: directory.appendingPathComponent("not-executable"), withIntermediateDirectories: true)
        let rpm = hello.flatMap { try? Data(contentsOf: $0) } ?? Data()
        func write(_ name: String, _ data: Data) { try? data.write(to: directory.appendingPathComponent(name)) }
        write("empty.rpm", Data())
        write("truncated-lead.rpm", rpm.prefix(50))
        write("truncated-header.rpm", rpm.prefix(3000))
        var badMagic = rpm
        if badMagic.count > 100 { badMagic[96] ^= 0xFF }  // the signature header's magic
        write("bad-signature.rpm", badMagic)
        var source = rpm
        if source.count > 8 { source[7] = 1 }  // lead type 1: a source package
        write("source.src.rpm", source)
        write("not-executable/readme.txt", Data("not a test".utf8))
        // An honest x86_64 package: right label, wrong machine for an armv7l guest.
        let sources = EndToEnd.repository.appendingPathComponent("examples/hello-armhf")
        let build = Process()
        build.executableURL = URL(fileURLWithPath: "/usr/bin/rpmbuild")
        build.arguments = [
            "-bb", "--target", "x86_64", "--define", "variant mislabelled", "--define", "_sourcedir \(sources.path)",
            "--define", "_topdir \(directory.appendingPathComponent("rpmbuild").path)",
            "--define", "_rpmdir \(directory.path)", "--define", "_build_name_fmt x86_64.rpm",
            sources.appendingPathComponent("vmtest-hello.spec").path,
        ]
        build.standardOutput = FileHandle.nullDevice
        build.standardError = FileHandle.nullDevice
        try? build.run()
        build.waitUntilExit()
        let profile = try? String(contentsOf: EndToEnd.repository.appendingPathComponent("profiles/debian12-armhf.yaml"), encoding: .utf8)
        let base = profile ?? ""
        func bad(_ name: String, _ text: String) { write(name, Data(text.utf8)) }
        bad("syntax.yaml", base.replacingOccurrences(of: "cpus: 2", with: "cpus: [2"))
        bad("unknown-key.yaml", base.replacingOccurrences(of: "memory: 1024", with: "memroy: 1024"))
        bad("zero-cpus.yaml", base.replacingOccurrences(of: "cpus: 2", with: "cpus: 0"))
        bad("mips.yaml", base.replacingOccurrences(of: "arch: armv7l", with: "arch: mips64"))
        bad("tiny-memory.yaml", base.replacingOccurrences(of: "memory: 1024", with: "memory: 16"))
        bad("no-install.yaml", base.replacing(#/\ninstall: \|\n(?:  .*\n)+/#, with: "\n"))
        bad("bad-workaround.yaml", base + "\nworkarounds:\n  force: [java-singel-cpu]\n")
        // .deb files: one for arm64 and one for armel (neither installs on armhf), and a
        // truncated copy of the arm64 one.
        for architecture in ["arm64", "armel"] {
            if let deb = try? DebianPackageTests.build("vmtest-\(architecture)", architecture: architecture, depends: nil, in: directory) {
                try? FileManager.default.moveItem(at: deb, to: directory.appendingPathComponent("\(architecture).deb"))
            }
        }
        let arm64 = (try? Data(contentsOf: directory.appendingPathComponent("arm64.deb"))) ?? Data()
        write("truncated.deb", arm64.prefix(arm64.count / 2))
        // Test metadata with a mistake each: DEP-8 control files and fmf trees.
        let script = "#!/bin/sh\ntrue\n"
        for (folder, files) in [
            ("dep8-unknown-field", ["debian/tests/control": "Tests: a\nFrobnicate: yes\n", "debian/tests/a": script]),
            ("dep8-unknown-restriction", ["debian/tests/control": "Tests: a\nRestrictions: needs-magic\n", "debian/tests/a": script]),
            ("dep8-no-test", ["debian/tests/control": "Tests: a\n\nDepends: hello\n", "debian/tests/a": script]),
            ("fmf-yaml", [".fmf/version": "1\n", "main.fmf": "/t:\n    test: [unclosed\n"]),
            ("fmf-result", [".fmf/version": "1\n", "main.fmf": "/t:\n    test: \"true\"\n    result: maybe\n"]),
            ("fmf-duration", [".fmf/version": "1\n", "main.fmf": "/t:\n    test: \"true\"\n    duration: soon\n"]),
            ("fmf-one-test", [".fmf/version": "1\n", "main.fmf": "/t:\n    test: \"true\"\n"]),
        ] {
            for (path, text) in files {
                try? FileManager.default.createDirectory(
                    at: directory.appendingPathComponent("\(folder)/\(path)").deletingLastPathComponent(), withIntermediateDirectories: true
                )
                write("\(folder)/\(path)", Data(text.utf8))
            }
        }
        return directory
    }

    static func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    struct BadInput: Sendable, CustomTestStringConvertible {
        var arguments: [String]
        var message: String
        /// Where the state folder goes, under the row's own temporary folder.
        var stateFolder = "s"
        var testDescription: String { arguments.joined(separator: " ") + (stateFolder == "s" ? "" : " (state in \(stateFolder))") }
    }

    static func badInputs() async -> [BadInput] {
        let hello = (try? await examplePackages()) ?? [:]
        let ok = hello["vmtest-hello"] ?? "missing-example.rpm"
        let mislabelled = hello["vmtest-hello-mislabelled"] ?? "missing-example.rpm"
        let run = ["run", "debian12-armhf"]
        return [
            // RPMs
            .init(arguments: run + ["--rpm", "/etc/passwd"], message: "is not an RPM package"),
            .init(arguments: run + ["--rpm", "/nonexistent.rpm"], message: "no such file"),
            .init(arguments: run + ["--rpm", fixture("empty.rpm")], message: "is not an RPM package"),
            .init(arguments: run + ["--rpm", fixture("truncated-lead.rpm")], message: "is truncated: the file ends inside its lead"),
            .init(arguments: run + ["--rpm", fixture("truncated-header.rpm")], message: "is truncated"),
            .init(arguments: run + ["--rpm", fixture("bad-signature.rpm")], message: "corrupt"),
            .init(arguments: run + ["--rpm", fixture("source.src.rpm")], message: "is a source RPM"),
            .init(arguments: run + ["--rpm", mislabelled, "--strict"], message: "contains executables for another machine"),
            .init(arguments: run + ["--rpm", ok, "--rpm", ok], message: "again"),
            .init(arguments: run + ["--rpm", fixture("x86_64.rpm")], message: "is built for x86_64, which an armv7l guest cannot run"),
            .init(arguments: run + ["--rpm", "/tmp"], message: "is a directory, not an RPM file"),
            // .deb files
            .init(arguments: run + ["--deb", fixture("arm64.deb")], message: "is built for arm64, which an armhf guest cannot install"),
            .init(arguments: run + ["--deb", fixture("armel.deb")], message: "is built for armel, which an armhf guest cannot install"),
            .init(arguments: run + ["--deb", fixture("truncated.deb")], message: "is a damaged Debian package"),
            .init(arguments: run + ["--deb", "/etc/passwd"], message: "is not a Debian package"),
            .init(arguments: run + ["--deb", "/nonexistent.deb"], message: "does not exist"),
            .init(arguments: ["run", "centos7-armhfp", "--deb", fixture("arm64.deb")], message: "installs no .deb"),
            // --update
            .init(arguments: run + ["--update", "/nonexistent"], message: "/nonexistent: does not exist"),
            .init(arguments: run + ["--update", "/etc/passwd"], message: "is neither an .rpm nor a .deb file"),
            .init(arguments: run + ["--update", fixture("not-executable")], message: "holds no .rpm or .deb file"),
            .init(arguments: run + ["--update", fixture("arm64.deb")], message: "is built for arm64, which an armhf guest cannot install"),
            .init(arguments: run + ["--test", "true", "--reboot"], message: "--reboot reboots after an update: give --update"),
            // --repo folders
            .init(arguments: run + ["--test", "true", "--repo", "/nonexistent"], message: "/nonexistent: is not a directory"),
            .init(arguments: run + ["--test", "true", "--repo", fixture("not-executable")], message: "holds no .rpm or .deb file"),
            // options
            .init(arguments: run + ["--test", "true", "--channel", "carrier-pigeon"], message: "--channel must be serial or ssh"),
            .init(
                arguments: run + ["--test", "true", "--channel", "ssh", "--connect", "qemu+tcp://192.0.2.1/system"],
                message: "qemu+tcp://192.0.2.1/system's own loopback, which this machine reaches only through an SSH login there"),
            .init(arguments: run, message: "nothing to test"),
            .init(arguments: run + ["--test", "true", "--timeout", "0"], message: "--timeout must be a positive"),
            .init(arguments: run + ["--test", "true", "--test-timeout", "0"], message: "--test-timeout must be a positive"),
            .init(arguments: run + ["--test", "true", "--workaround", "java-singel-cpu"], message: "did you mean 'java-single-cpu'"),
            .init(
                arguments: run + ["--test", "true", "--workaround", "java-single-cpu", "--no-workaround", "java-single-cpu"],
                message: "java-single-cpu"),
            .init(arguments: run + ["--tests-dir", "/nonexistent"], message: "is not a directory"),
            .init(arguments: run + ["--tests-dir", fixture("not-executable")], message: "has no executable files"),
            .init(arguments: run + ["--test", "true", "--results", "/proc/vmtest-results"], message: "cannot be created"),
            .init(arguments: run + ["--test", "true", "--bogus"], message: "Unknown option '--bogus'"),
            .init(arguments: ["run", "centos7-armhfp", "--test", "true", "--channel", "ssh"], message: "not provisioned with cloud-init"),
            // profiles and images
            .init(arguments: ["run", "debian12-armfh", "--test", "true"], message: "did you mean 'debian12-armhf'"),
            .init(arguments: ["run", "/nonexistent/profile.yaml", "--test", "true"], message: "no such file"),
            .init(arguments: ["run", fixture("syntax.yaml"), "--test", "true"], message: "YAML syntax error"),
            .init(arguments: ["run", fixture("unknown-key.yaml"), "--test", "true"], message: "did you mean 'memory'"),
            .init(arguments: ["run", fixture("zero-cpus.yaml"), "--test", "true"], message: "cpus must be between 1 and 8"),
            .init(arguments: ["run", fixture("mips.yaml"), "--test", "true"], message: "'mips64' is not one of"),
            .init(arguments: ["run", fixture("tiny-memory.yaml"), "--test", "true"], message: "memory is in MiB"),
            .init(arguments: ["run", fixture("no-install.yaml"), "--test", "true"], message: "missing key 'install'"),
            .init(arguments: ["run", fixture("bad-workaround.yaml"), "--test", "true"], message: "java-single-cpu"),
            .init(arguments: ["profiles", "validate", fixture("zero-cpus.yaml")], message: "line"),
            .init(arguments: ["boot"], message: "Missing expected argument"),
            .init(
                arguments: run + ["--test", "true"], message: "fix: set VMTEST_STATE_DIR to a shorter folder",
                stateFolder: String(repeating: "deep/", count: 8)),
            // Test metadata (--tests-from)
            .init(
                arguments: run + ["--tests-from", fixture("dep8-unknown-field")],
                message: "debian/tests/control, line 2: unknown field `Frobnicate`"),
            .init(
                arguments: run + ["--tests-from", fixture("dep8-unknown-restriction")],
                message: "debian/tests/control, line 2: unknown restriction `needs-magic`"),
            .init(
                arguments: run + ["--tests-from", fixture("dep8-no-test")],
                message: "debian/tests/control, line 3: a stanza has neither `Tests` nor `Test-Command`"),
            .init(arguments: run + ["--tests-from", fixture("fmf-yaml")], message: "main.fmf, line 3: YAML syntax error"),
            .init(arguments: run + ["--tests-from", fixture("fmf-result")], message: "main.fmf, line 3: /t: `result` must be one of"),
            .init(arguments: run + ["--tests-from", fixture("fmf-duration")], message: "main.fmf, line 3: /t: `duration` must be a time"),
            .init(arguments: run + ["--tests-from", "/etc/passwd"], message: "is neither a directory nor a Debian source package"),
            .init(arguments: run + ["--tests-from", fixture("fmf-one-test"), "--filter", "tag:none"], message: "nothing would run"),
            .init(arguments: run + ["--test", "true", "--filter", "tag:x"], message: "--filter selects among --tests-from's tests"),
        ]
    }

    @Test(arguments: await badInputs())
    func badInputExitsTwoBeforeBooting(_ bad: BadInput) async throws {
        _ = await Self.fixturesMade.value
        // A state directory of its own: other suites' guests start and end in the shared one
        // meanwhile. Short: the embedded driver's sockets go inside it.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-bad-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: folder) }
        let state = folder.appendingPathComponent(bad.stateFolder)
        let run = try await EndToEnd.vmtest(bad.arguments, environment: ["VMTEST_STATE_DIR": state.path])
        #expect(run.status == 2, "stderr: \(run.error)")
        #expect(run.error.contains(bad.message), "stderr: \(run.error)")
        #expect(!run.error.contains("boot: starting"), "something booted")
        let left = (try? FileManager.default.contentsOfDirectory(atPath: state.appendingPathComponent("runs").path)) ?? []
        #expect(left.isEmpty, "a bad input left a run behind: \(left)")
    }

}
