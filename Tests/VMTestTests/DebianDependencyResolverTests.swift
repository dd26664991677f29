import Foundation
import Testing

@testable import VMTest

/// The host's apt resolving for an armhf guest from Debian's mirror (which CI reaches, as
/// script/setup does): a guest status with the C library only, a run package depending on
/// a real armhf package, and a dependency nobody provides.
@Suite struct DebianDependencyResolverTests {
    /// libc6 and what it needs, as an image's dpkg status lists them.
    static let status = """
        Package: gcc-12-base
        Status: install ok installed
        Architecture: armhf
        Version: 12.2.0-14
        Multi-Arch: same

        Package: libgcc-s1
        Status: install ok installed
        Architecture: armhf
        Version: 12.2.0-14
        Multi-Arch: same
        Depends: gcc-12-base (= 12.2.0-14), libc6 (>= 2.35)

        Package: libc6
        Status: install ok installed
        Architecture: armhf
        Version: 2.36-9+deb12u10
        Multi-Arch: same
        Depends: libgcc-s1

        """

    @Test func downloadsWhatTheGuestLacksAndNamesWhatNobodyProvides() async throws {
        let folder = try DebianPackageFileTests.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let statusFile = folder.appendingPathComponent("status")
        try Self.status.write(to: statusFile, atomically: true, encoding: .utf8)
        let app = try await ServedRepositoryTests.deb("vmtest-app", depends: "antiword", in: folder)
        let resolver = DebianDependencyResolver(architecture: "armhf", guestStatus: statusFile)

        let resolution = try await resolver.resolve(["vmtest-app"], localPackages: [app], into: folder.appendingPathComponent("a"))
        guard case .downloaded(let files) = resolution else {
            Issue.record("\(resolution)")
            return
        }
        #expect(files.map(\.lastPathComponent).contains { $0.hasPrefix("antiword_") && $0.hasSuffix("_armhf.deb") }, "\(files)")
        #expect(!files.contains { $0.lastPathComponent.hasPrefix("libc6_") }, "the guest has libc6")
        #expect(!files.contains { $0.lastPathComponent.hasPrefix("vmtest-app") }, "the run's own package is not downloaded")
        for file in files { #expect(try await DebianPackageFile.read(file).installs(on: "armhf")) }

        let missing = try await resolver.resolve(
            ["vmtest-app", "vmtest-no-such-package (>= 2)"], localPackages: [app],
            into: folder.appendingPathComponent("b"))
        guard case .unsatisfiable(let explanation) = missing else {
            Issue.record("\(missing)")
            return
        }
        #expect(explanation.contains("vmtest-no-such-package"), "\(explanation)")
    }
}
