import Foundation
import Testing

@testable import VMTest

/// The shipped RPM profiles' install lines, run by dash against stand-in `rpm`, `dnf` and
/// `yum`: rpm alone when it installs, the resolver only when rpm says a dependency is
/// missing, and rpm's own failure otherwise.
@Suite struct ProfileInstallTests {
    static let profiles = ["debian12-armhf", "debian12-arm64", "debian12-armhf-uboot", "centos7-armhfp"]
    static let packages = "/var/tmp/vmtest/a.rpm '/var/tmp/vmtest/b c.rpm'"

    struct Outcome {
        var status: Int32
        var standardOutput: String
        var standardError: String
        var calls: [String]
    }

    /// Runs `name`'s install line with an `rpm` that behaves as `rpm` says.
    static func install(_ name: String, rpm: String, resolverStatus: Int = 0) async throws -> Outcome {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-install-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let calls = folder.appendingPathComponent("calls")
        func standIn(_ tool: String, _ body: String) throws {
            let file = folder.appendingPathComponent(tool)
            try Data("#!/bin/sh\nprintf '%s|' \(tool) \"$@\" >>\(calls.path); echo >>\(calls.path)\n\(body)\n".utf8).write(to: file)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: file.path)
        }
        try standIn("rpm", rpm)
        for resolver in ["dnf", "yum"] { try standIn(resolver, "echo \(resolver) resolved; exit \(resolverStatus)") }

        let profile = try ProfileLoaderTests.catalog.load(name)
        let script = "PATH=\(folder.path):$PATH\n" + profile.install.replacingOccurrences(of: "{packages}", with: packages)
        let finished = try await GuestSetUpTests.dash.finish(["-c", script])
        let called = (try? String(contentsOf: calls, encoding: .utf8)) ?? ""
        return Outcome(
            status: finished.exitStatus, standardOutput: finished.standardOutput, standardError: finished.standardError,
            calls: called.split(separator: "\n").map(String.init))
    }

    @Test(arguments: profiles)
    func rpmAloneInstallsWhatHasItsDependenciesAndItsMessagesAreKept(name: String) async throws {
        let outcome = try await Self.install(name, rpm: "echo 'scriptlet: hello'; echo 'rpm: a warning' >&2")
        #expect(outcome.calls == ["rpm|-U|/var/tmp/vmtest/a.rpm|/var/tmp/vmtest/b c.rpm|"])
        #expect(outcome.status == 0)
        #expect(outcome.standardOutput == "scriptlet: hello\n")
        #expect(outcome.standardError == "rpm: a warning\n")
    }

    @Test(arguments: profiles)
    func aMissingDependencyHandsThePackagesToTheResolver(name: String) async throws {
        let outcome = try await Self.install(
            name, rpm: "printf 'error: Failed dependencies:\\n\\tlibfoo.so.1 is needed by a-1.0-1.armv7hl\\n' >&2; exit 1")
        #expect(outcome.calls.count == 2)
        #expect(outcome.calls.last?.hasSuffix("|/var/tmp/vmtest/a.rpm|/var/tmp/vmtest/b c.rpm|") == true)
        #expect(outcome.calls.last?.hasPrefix(name.hasPrefix("centos") ? "yum|-y|localinstall|" : "dnf|-y|install|") == true)
        #expect(outcome.status == 0)
        #expect(outcome.standardError.contains("libfoo.so.1 is needed by"), "why the resolver ran")

        let unresolved = try await Self.install(
            name, rpm: "echo 'error: Failed dependencies:' >&2; exit 1", resolverStatus: 1)
        #expect(unresolved.status == 1)
    }

    @Test(arguments: profiles)
    func anyOtherFailureOfRpmIsTheInstallsFailure(name: String) async throws {
        let outcome = try await Self.install(name, rpm: "echo 'error: %post(a-1.0-1.armv7hl) scriptlet failed, exit status 3' >&2; exit 2")
        #expect(outcome.calls.count == 1, "no resolver hides the failure")
        #expect(outcome.status == 2)
        #expect(outcome.standardError.contains("scriptlet failed"))
    }
}
