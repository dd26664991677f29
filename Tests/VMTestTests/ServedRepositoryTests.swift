import Foundation
import Testing

@testable import VMTest

/// The run's repository, read by the real package managers' indexers on this machine:
/// apt (configured for armhf, with nothing installed) resolves a dependency between two
/// served .debs, and createrepo_c's repodata lists the served RPMs.
@Suite struct ServedRepositoryTests {
    static func deb(_ name: String, depends: String?, in folder: URL) async throws -> URL {
        let tree = folder.appendingPathComponent("tree-\(name)")
        try FileManager.default.createDirectory(at: tree.appendingPathComponent("DEBIAN"), withIntermediateDirectories: true)
        try """
        Package: \(name)
        Version: 1.0-1
        Architecture: armhf
        Maintainer: vmtest <vmtest@example.org>
        \(depends.map { "Depends: \($0)\n" } ?? "")Description: \(name) for vmtest's tests

        """.write(to: tree.appendingPathComponent("DEBIAN/control"), atomically: true, encoding: .utf8)
        let deb = folder.appendingPathComponent("\(name).deb")
        try await DebianPackageFileTests.run("/usr/bin/dpkg-deb", ["--root-owner-group", "--build", tree.path, deb.path])
        return deb
    }

    @Test func aptResolvesDependenciesAmongServedPackages() async throws {
        let folder = try DebianPackageFileTests.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let app = try await DebianPackageFile.read(try await Self.deb("vmtest-app", depends: "vmtest-lib (>= 1.0)", in: folder))
        let extra = folder.appendingPathComponent("extra")
        try FileManager.default.createDirectory(at: extra, withIntermediateDirectories: true)
        _ = try await Self.deb("vmtest-lib", depends: nil, in: extra)
        let repository = folder.appendingPathComponent("repo")
        let served = try await ServedRepository.make(
            at: repository, guestPath: repository.path, debs: [app], rpms: [], extraPackages: ServedRepository.packages(in: extra))
        #expect(served.debs.map(\.package) == ["vmtest-app", "vmtest-lib"])

        // apt with a state of its own: armhf, nothing installed, only this repository.
        let state = folder.appendingPathComponent("apt")
        for sub in ["lists/partial", "cache/archives/partial", "etc/apt.conf.d", "etc/preferences.d", "etc/trusted.gpg.d"] {
            try FileManager.default.createDirectory(at: state.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
        try "".write(to: state.appendingPathComponent("status"), atomically: true, encoding: .utf8)
        try (served.aptSource + "\n").write(to: state.appendingPathComponent("etc/sources.list"), atomically: true, encoding: .utf8)
        let options = [
            "-o", "APT::Architecture=armhf", "-o", "APT::Architectures=armhf", "-o", "Dir::State=\(state.path)",
            "-o", "Dir::State::status=\(state.path)/status", "-o", "Dir::Cache=\(state.path)/cache",
            "-o", "Dir::Etc=\(state.path)/etc", "-o", "Dir::Etc::sourcelist=\(state.path)/etc/sources.list",
            "-o", "Dir::Etc::sourceparts=-", "-o", "Debug::NoLocking=1",
        ]
        _ = try await ExternalTool.aptGet.run(options + ["update"])
        let plan = try await ExternalTool.aptGet.run(options + ["--simulate", "install", "vmtest-app"])
        #expect(plan.contains("Inst vmtest-lib (1.0-1"), "\(plan)")
        #expect(plan.contains("Inst vmtest-app (1.0-1"), "\(plan)")
    }

    @Test func repodataListsTheServedRPMs() async throws {
        let rpms = try await RPMFixtures.shared.value
        let folder = try DebianPackageFileTests.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let served = try await ServedRepository.make(
            at: folder.appendingPathComponent("repo"), guestPath: "/var/tmp/vmtest/repo", debs: [], rpms: [rpms.arm, rpms.noarch])
        let repomd = try String(contentsOf: served.directory.appendingPathComponent("repodata/repomd.xml"), encoding: .utf8)
        let primary = try #require(repomd.firstMatch(of: /href="(repodata\/[^"]*primary\.xml\.[a-z0-9]+)"/)?.1)
        #expect(primary.hasSuffix(".gz"), "CentOS 7's yum reads gzip only")
        let listing = try await ExternalTool.gzip.run(["-dc", served.directory.appendingPathComponent(String(primary)).path])
        for rpm in [rpms.arm, rpms.noarch] {
            let read = try RPMFile.read(rpm)
            #expect(listing.contains("<name>\(read.name)</name>"), "\(read.name) in \(primary)")
        }
        let repoFile = try String(
            contentsOf: served.directory.appendingPathComponent(ServedRepository.dnfRepositoryFile), encoding: .utf8)
        #expect(repoFile == served.dnfRepository && repoFile.contains("baseurl=file:///var/tmp/vmtest/repo"))
    }
}
