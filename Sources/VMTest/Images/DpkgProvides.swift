import Foundation

/// What dpkg installed in a Debian image, told to the image's rpm database as one package
/// (`vmtest-dpkg-provides`) that provides the commands and shared libraries dpkg put there.
///
/// Debian's rpm database starts empty, so dnf would refuse every RPM that needs anything
/// of the system: `/bin/sh` for any scriptlet, `libc.so.6(GLIBC_2.4)` and `rtld(GNU_HASH)`
/// for any program rpmbuild scanned. With this package those resolve as on an RPM system;
/// what an RPM needs beyond them (another RPM, a Perl module) is still named as missing.
struct DpkgProvides: Sendable {
    /// The image's root file system, as the build leaves it before mkfs.
    let root: URL

    static let packageName = "vmtest-dpkg-provides"
    /// Debian's rpm keeps its database in the user's home (`%_dbpath ~/.rpmdb`), so that it
    /// is not taken for the system's; root's is the one vmtest's installs use.
    static let databasePath = "/root/.rpmdb"

    /// Builds the package here with rpmbuild and records it in the image's database
    /// (`--justdb`: it owns no file; dpkg keeps owning them).
    func register(scratch: URL) async throws {
        let provides = try await commands() + libraries() + ["rtld(GNU_HASH)"]
        let spec = scratch.appendingPathComponent("\(Self.packageName).spec")
        try Data(Self.spec(provides: provides).utf8).write(to: spec)
        let top = scratch.appendingPathComponent("rpmbuild")
        try await ExternalTool.rpmbuild.run(["-bb", "--quiet", "--define", "_topdir \(top.path)", spec.path])
        let rpm = top.appendingPathComponent("RPMS/noarch/\(Self.packageName)-1-1.noarch.rpm")
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent(String(Self.databasePath.dropFirst())), withIntermediateDirectories: true)
        try await ExternalTool.rpm.run([
            "--root", root.path, "--dbpath", Self.databasePath, "--install", "--justdb", "--nodeps", "--noscripts", rpm.path,
        ])
    }

    /// Every command in the image by each path it has: Debian 12's merged /usr makes
    /// `/bin/sh` and `/usr/bin/sh` the same file, and RPMs name either.
    private func commands() -> [String] {
        ["bin", "sbin", "usr/bin", "usr/sbin"].flatMap { folder in
            let names = (try? FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent(folder).path)) ?? []
            // A dependency's name cannot hold a separator or a comparison.
            return names.filter { $0.rangeOfCharacter(from: Self.unsafe) == nil }.map { "/\(folder)/\($0)" }
        }
    }

    private static let unsafe = CharacterSet(charactersIn: " \t,<>=()")

    /// The sonames (with their symbol versions) of the shared libraries under /usr/lib,
    /// as rpm's own elfdeps spells them for the image's architecture.
    private func libraries() async throws -> [String] {
        let libraries = root.appendingPathComponent("usr/lib")
        var files: [String] = []
        let walker = FileManager.default.enumerator(at: libraries, includingPropertiesForKeys: [.isRegularFileKey])
        while let url = walker?.nextObject() as? URL {
            let name = url.lastPathComponent
            guard name.hasSuffix(".so") || name.contains(".so."),
                (try? url.resourceValues(forKeys: [.isRegularFileKey]))?.isRegularFile == true, Self.isELF(url)
            else { continue }
            files.append(url.path)
        }
        var provides: [String] = []
        // A few hundred paths at a time, well inside the argument list's limit.
        for start in stride(from: 0, to: files.count, by: 200) {
            let output = try await ExternalTool.elfdeps.run(["--provides"] + files[start..<min(start + 200, files.count)])
            provides += output.split(separator: "\n").map(String.init)
        }
        return provides
    }

    /// elfdeps fails on anything else (a linker script named `libc.so`, say). The same
    /// header check that reads RPM payloads.
    static func isELF(_ file: URL) -> Bool {
        guard let handle = try? FileHandle(forReadingFrom: file) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: CPIOReader.elfPrefix)) ?? Data()
        return CPIOReader.elf(Array(head)) != nil
    }

    static func spec(provides: [String]) -> String {
        let lines = Set(provides).sorted().map { "Provides: \($0)" }.joined(separator: "\n")
        return """
            Name: \(packageName)
            Version: 1
            Release: 1
            Summary: What dpkg installed in this vmtest image, for rpm's dependency checks
            License: MIT
            BuildArch: noarch
            \(lines)

            %description
            The commands and shared libraries that Debian's packages installed in this image,
            so that RPMs needing them install with dnf. It owns no file.

            %files

            """
    }
}
