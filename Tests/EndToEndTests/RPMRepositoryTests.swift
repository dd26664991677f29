import Foundation
import Testing

@testable import VMTest

/// RPMs installed by dnf in a real armhf guest: a package's dependency comes from a
/// `--repo` folder served to the guest, and one nobody serves fails the install test
/// case, named.
@Suite struct RPMRepositoryTests {
    /// A noarch RPM built here by rpmbuild: a file of its own under /usr/share, and for the
    /// one that requires another, a command that prints that other's file.
    static func build(_ name: String, requires: String?, in folder: URL) async throws -> URL {
        let command = requires.map { "#!/bin/sh\\ncat /usr/share/\($0)/greeting\\n" } ?? ""
        let spec = folder.appendingPathComponent("\(name).spec")
        try """
        Name: \(name)
        Version: 1.0
        Release: 1
        Summary: \(name), made by vmtest's tests
        License: MIT
        BuildArch: noarch
        AutoReqProv: no
        \(requires.map { "Requires: \($0) >= 1.0\n" } ?? "")
        %description
        \(name), made by vmtest's tests.

        %install
        mkdir -p %{buildroot}/usr/share/\(name) %{buildroot}/usr/bin
        echo 'hello from \(name)' > %{buildroot}/usr/share/\(name)/greeting
        printf '\(command)' > %{buildroot}/usr/bin/\(name)
        chmod 0755 %{buildroot}/usr/bin/\(name)

        %files
        /usr/share/\(name)
        /usr/bin/\(name)

        """.write(to: spec, atomically: true, encoding: .utf8)
        let top = folder.appendingPathComponent("rpmbuild-\(name)")
        let built = try await ExternalTool("rpmbuild", debianPackage: "rpm").finish([
            "-bb", "--define", "_topdir \(top.path)", "--define", "_binary_payload w9.gzdio", spec.path,
        ])
        #expect(built.succeeded, "rpmbuild \(name): \(built.standardError)")
        let rpm = top.appendingPathComponent("RPMS/noarch/\(name)-1.0-1.noarch.rpm")
        let placed = folder.appendingPathComponent(rpm.lastPathComponent)
        try FileManager.default.moveItem(at: rpm, to: placed)
        try FileManager.default.removeItem(at: top)
        return placed
    }

    @Test func aDependencyFromARepoFolderInstallsWithThePackage() async throws {
        _ = try await EndToEnd.debianProfile()
        let folder = try DebianPackageTests.folder("rpm-repo")
        defer { try? FileManager.default.removeItem(at: folder) }
        let repository = folder.appendingPathComponent("repo")
        try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
        _ = try await Self.build("vmtest-rpm-lib", requires: nil, in: repository)
        let app = try await Self.build("vmtest-rpm-app", requires: "vmtest-rpm-lib", in: folder)
        let results = folder.appendingPathComponent("results")
        let run = try await EndToEnd.vmtest([
            "run", "debian12-armhf", "--rpm", app.path, "--repo", repository.path,
            "--test", "vmtest-rpm-app | grep -x 'hello from vmtest-rpm-lib'", "--results", results.path,
        ])
        #expect(run.status == 0, "stderr: \(run.error)")
        let summary = try RunTests.summary(in: results)
        #expect(summary.tests.map(\.name).prefix(2) == ["install", "rpm-verify vmtest-rpm-app"], "\(summary.tests)")
        #expect(summary.tests.allSatisfy { $0.verdict == "passed" }, "\(summary.tests)")
        let log = try String(contentsOf: results.appendingPathComponent("tests/01-install.log"), encoding: .utf8)
        #expect(log.contains("vmtest-rpm-lib"), "dnf installed the dependency from the served folder: \(log)")
    }
}
