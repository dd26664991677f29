import Foundation
import Testing

@testable import VMTest

/// `vmtest run --deb` in a real armhf guest: a real Debian package whose libraries the
/// image lacks installs with them from the run's served repository (the host's apt found
/// and downloaded them from Debian's mirror), and a dependency nobody provides fails the
/// install test case, named.
@Suite(.serialized) struct DebianPackageTests {
    /// A .deb built here with dpkg-deb: control data, and one file saying its name and
    /// version (not under /usr/share/doc, which the image's dpkg leaves out).
    static func build(_ name: String, version: String = "1.0-1", architecture: String, depends: String?, in folder: URL) throws -> URL {
        let tree = folder.appendingPathComponent("tree-\(name)-\(version)")
        try FileManager.default.createDirectory(at: tree.appendingPathComponent("DEBIAN"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: tree.appendingPathComponent("usr/share/\(name)"), withIntermediateDirectories: true)
        try "\(name) \(version)\n".write(
            to: tree.appendingPathComponent("usr/share/\(name)/README"), atomically: true, encoding: .utf8)
        try """
        Package: \(name)
        Version: \(version)
        Architecture: \(architecture)
        Maintainer: vmtest <vmtest@example.org>
        \(depends.map { "Depends: \($0)\n" } ?? "")Description: \(name), made by vmtest's tests

        """.write(to: tree.appendingPathComponent("DEBIAN/control"), atomically: true, encoding: .utf8)
        let deb = folder.appendingPathComponent("\(name)_\(version)_\(architecture).deb")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/dpkg-deb")
        process.arguments = ["--root-owner-group", "--build", tree.path, deb.path]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown) }
        return deb
    }

    static func folder(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-e2e-deb-\(name)-\(getpid())")
        try? FileManager.default.removeItem(at: url)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Downloads the mirror's armhf package `name` into `folder` with the host's apt.
    static func download(_ name: String, into folder: URL) async throws -> URL {
        let download = try await ExternalTool.aptGet.finish(
            ["download", "-q", "-o", "APT::Sandbox::User=root", "\(name):armhf"], workingDirectory: folder.path)
        #expect(download.succeeded, "apt-get download \(name):armhf: \(download.standardError)")
        let file = try #require(try FileManager.default.contentsOfDirectory(atPath: folder.path).first { $0.hasPrefix("\(name)_") })
        return folder.appendingPathComponent(file)
    }

    @Test func aRealPackageInstallsWithTheLibrariesTheImageLacks() async throws {
        _ = try await EndToEnd.debianProfile()
        let folder = try Self.folder("jq")
        defer { try? FileManager.default.removeItem(at: folder) }
        // jq needs libjq1 and libonig5, which the image does not have.
        let jq = try await Self.download("jq", into: folder)
        let results = folder.appendingPathComponent("results")
        let run = try await EndToEnd.vmtest([
            "run", "debian12-armhf", "--deb", jq.path,
            "--test", #"echo '{"a":41}' | jq '.a + 1' | grep -x 42"#, "--results", results.path,
        ])
        #expect(run.status == 0, "stderr: \(run.error)")
        let summary = try RunTests.summary(in: results)
        #expect(summary.tests.map(\.name) == ["install-deb", "dpkg-verify jq", #"command 1: echo '{"a":41}' | jq '.a + 1' | grep -x 42"#])
        #expect(summary.tests.allSatisfy { $0.verdict == "passed" }, "\(summary.tests)")
        let log = try String(contentsOf: results.appendingPathComponent("tests/01-install-deb.log"), encoding: .utf8)
        #expect(log.contains("Setting up libjq1"), "the library came from the served repository: \(log)")
        #expect(log.contains("Setting up libonig5"), "\(log)")
    }

    /// The example Java program (examples/hello-java): a .deb needing Debian's armhf
    /// OpenJDK, which the image lacks. The JRE and its dependencies come from the mirror
    /// through the served repository, and the JVM passes the program's installed test
    /// (threads counting primes while HotSpot compiles) on both vCPUs: no Java workaround
    /// applies unasked, as none reproduced a failure (`vmtest workarounds`).
    @Test func theJavaExampleRunsOnDebiansOpenJDKWithBothVCPUs() async throws {
        _ = try await EndToEnd.debianProfile()
        let folder = try Self.folder("java")
        defer { try? FileManager.default.removeItem(at: folder) }
        let built = try await EndToEnd.command(
            EndToEnd.repository.appendingPathComponent("examples/hello-java/build"), [folder.path])
        #expect(built.status == 0, "examples/hello-java/build failed")
        let deb = built.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(deb.hasSuffix("/vmtest-hello-java_1.0-1_all.deb"))
        let results = folder.appendingPathComponent("results")
        let run = try await EndToEnd.vmtest([
            "run", "debian12-armhf", "--deb", deb, "--test", #"[ "$(nproc)" = 2 ]"#, "--results", results.path,
        ])
        #expect(run.status == 0, "stderr: \(run.error)")
        let summary = try RunTests.summary(in: results)
        #expect(
            summary.tests.map(\.name)
                == ["install-deb", "dpkg-verify vmtest-hello-java", "vmtest-hello-java/hello.test", #"command 1: [ "$(nproc)" = 2 ]"#])
        #expect(summary.tests.allSatisfy { $0.verdict == "passed" }, "\(summary.tests)")
        #expect(summary.workarounds.isEmpty, "\(summary.workarounds.map(\.name))")
        let install = try String(contentsOf: results.appendingPathComponent("tests/01-install-deb.log"), encoding: .utf8)
        #expect(install.contains("Setting up openjdk-17-jre-headless:armhf"), "the JRE came from the served repository: \(install)")
        let test = try String(contentsOf: results.appendingPathComponent("tests/03-vmtest-hello-java_hello.test.log"), encoding: .utf8)
        #expect(test.contains("ok - primes below 500000, 4 threads"), "\(test)")
    }

    @Test func aDependencyNobodyProvidesFailsTheInstallAndIsNamed() async throws {
        _ = try await EndToEnd.debianProfile()
        let folder = try Self.folder("missing")
        defer { try? FileManager.default.removeItem(at: folder) }
        let deb = try Self.build("vmtest-needs-nothing-real", architecture: "armhf", depends: "vmtest-no-such-package (>= 2)", in: folder)
        let results = folder.appendingPathComponent("results")
        let run = try await EndToEnd.vmtest([
            "run", "debian12-armhf", "--deb", deb.path, "--test", "true", "--results", results.path,
        ])
        #expect(run.status == 1, "a package that cannot install is a failed test, not bad input: \(run.error)")
        let summary = try RunTests.summary(in: results)
        #expect(summary.tests.first?.name == "install-deb" && summary.tests.first?.verdict == "failed", "\(summary.tests)")
        #expect(summary.tests.dropFirst().allSatisfy { $0.verdict == "skipped" }, "\(summary.tests)")
        let log = try String(contentsOf: results.appendingPathComponent("tests/01-install-deb.log"), encoding: .utf8)
        #expect(log.contains("vmtest-no-such-package"), "the missing dependency is named: \(log)")
    }

    /// `--deb OLD --update NEW --reboot`: the old version installs, the update upgrades it
    /// from the served folder, the guest boots again, comes back healthy, and the tests run
    /// on the rebooted guest against the new version.
    @Test func anUpdateUpgradesThePackageRebootsAndTheTestsRunAfterIt() async throws {
        _ = try await EndToEnd.debianProfile()
        let folder = try Self.folder("update")
        defer { try? FileManager.default.removeItem(at: folder) }
        let old = try Self.build("vmtest-updated", version: "1.0-1", architecture: "all", depends: nil, in: folder)
        let updates = folder.appendingPathComponent("updates")
        try FileManager.default.createDirectory(at: updates, withIntermediateDirectories: true)
        _ = try Self.build("vmtest-updated", version: "1.1-1", architecture: "all", depends: nil, in: updates)
        let results = folder.appendingPathComponent("results")
        let run = try await EndToEnd.vmtest([
            "run", "debian12-armhf", "--deb", old.path, "--update", updates.path, "--reboot",
            "--test", "grep -x 'vmtest-updated 1.1-1' /usr/share/vmtest-updated/README", "--results", results.path,
        ])
        #expect(run.status == 0, "stderr: \(run.error)")
        let summary = try RunTests.summary(in: results)
        #expect(
            summary.tests.map(\.name).prefix(4) == ["install-deb", "update", "health", "dpkg-verify vmtest-updated"]
                && summary.tests.count == 5, "\(summary.tests)")
        #expect(summary.tests.allSatisfy { $0.verdict == "passed" }, "\(summary.tests)")
        #expect(run.error.contains("the update changed 1: vmtest-updated"), "\(run.error)")
        let rebooted = try #require(run.error.range(of: "rebooting after the update: --reboot"), "\(run.error)")
        let health = try #require(run.error.range(of: "test: health"), "\(run.error)")
        #expect(rebooted.upperBound < health.lowerBound, "the health check ran on the rebooted guest")
        let log = try String(contentsOf: results.appendingPathComponent("tests/02-update.log"), encoding: .utf8)
        #expect(log.contains("Unpacking vmtest-updated (1.1-1) over (1.0-1)"), "\(log)")
        let healthLog = try String(contentsOf: results.appendingPathComponent("tests/03-health.log"), encoding: .utf8)
        #expect(healthLog.contains("system: running"), "\(healthLog)")
    }
}
