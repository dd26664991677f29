import Foundation
import Testing

@testable import VMTest

/// The listing of a package's installed tests, run by dash as the guest's shell would.
@Suite struct InstalledTestsTests {
    static func write(_ text: String, to path: String, in folder: URL) throws {
        let file = folder.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: file)
    }

    @Test func eachTestFileWithAnExecLineIsOneTestRunByItsFirstExecLine() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-installed-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try Self.write("[Test]\nType=session\nExec=/usr/libexec/a --check  'two words'\nExec=/bin/false\n", to: "pkg/a.test", in: folder)
        try Self.write("[Test]\nType=session\n", to: "pkg/b.test", in: folder)
        try Self.write("[Test]\nExec=\t/usr/libexec/c", to: "pkg/c.test", in: folder)  // no final newline
        try Self.write("Exec=/bin/true\n", to: "pkg/notes.txt", in: folder)
        try Self.write("Exec=/bin/true\n", to: "other/d.test", in: folder)
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("pkg/e.test"), withIntermediateDirectories: true)

        let listing = try await GuestSetUpTests.dash.run(["-c", InstalledTests.listCommand(package: "pkg", folder: folder.path)])
        let tests = InstalledTests.parse(listing, package: "pkg")
        #expect(tests.map(\.name) == ["pkg/a.test", "pkg/c.test"])
        #expect(tests.map(\.command) == ["/usr/libexec/a --check  'two words'", "\t/usr/libexec/c"])
    }

    @Test func aPackageWithoutInstalledTestsListsNoneAndSucceeds() async throws {
        let listing = try await GuestSetUpTests.dash.run([
            "-c", InstalledTests.listCommand(package: "no such package", folder: "/nonexistent"),
        ])
        #expect(InstalledTests.parse(listing, package: "no such package").isEmpty)
    }
}
