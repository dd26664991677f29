import Foundation

/// A run's packages as a repository the guest's own package manager installs from, so
/// dependencies between them (and on the distribution's packages) are resolved the way
/// they will be on a user's system, instead of forced in with `--nodeps`.
///
/// One folder holds the packages and the indexes both package managers read: an apt flat
/// repository (`Packages`, `Release`) for .deb files and `repodata/` from createrepo_c for
/// RPMs. The folder reaches the guest on the run's payload disk; ``aptSource`` and
/// ``dnfRepository`` say where the guest finds it.
public struct ServedRepository: Sendable, Equatable {
    /// On this machine.
    public var directory: URL
    /// Where the guest sees ``directory``.
    public var guestPath: String
    public var debs: [DebianPackageFile]
    public var rpms: [URL]

    /// An apt sources line. `trusted=yes` because the repository is made for this run
    /// and never signed; it is gone when the run ends.
    public var aptSource: String { Self.aptSource(at: guestPath) }

    public static func aptSource(at guestPath: String) -> String { "deb [trusted=yes] file:\(guestPath) ./" }

    /// A dnf/yum `.repo` file's text.
    public var dnfRepository: String {
        """
        [vmtest-run]
        name=packages of this vmtest run
        baseurl=file://\(guestPath)
        enabled=1
        gpgcheck=0
        metadata_expire=0
        priority=1

        """
    }

    /// The name of the `.repo` file in ``directory`` when it serves RPMs; the guest copies
    /// it into `/etc/yum.repos.d`, where both yum and dnf look.
    public static let dnfRepositoryFile = "vmtest-run.repo"

    /// The .deb and .rpm files directly in `folder`, by name; none when there is no folder.
    public static func packages(in folder: URL) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.sorted().filter(isPackage).map { folder.appendingPathComponent($0) }
    }

    /// A .deb or an .rpm, by its name.
    public static func isPackage(_ name: String) -> Bool { name.hasSuffix(".deb") || name.hasSuffix(".rpm") }

    /// Copies the packages into `directory` and writes the indexes the guest needs.
    /// - Parameters:
    ///   - extraPackages: `--repo` folders' packages and the dependencies found here, .debs
    ///     and RPMs by their names.
    public static func make(
        at directory: URL, guestPath: String, debs: [DebianPackageFile], rpms: [URL], extraPackages: [URL] = []
    ) async throws -> ServedRepository {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var allDebs = debs
        var allRPMs = rpms
        for file in extraPackages {
            if file.pathExtension == "deb" {
                allDebs.append(try await DebianPackageFile.read(file))
            } else {
                allRPMs.append(file)
            }
        }
        var index = ""
        for deb in allDebs {
            let name = "\(deb.package)_\(deb.version.replacingOccurrences(of: ":", with: "%3a"))_\(deb.architecture).deb"
            let copy = directory.appendingPathComponent(name)
            try? FileManager.default.removeItem(at: copy)
            try FileManager.default.copyItem(at: deb.url, to: copy)
            let size = try FileManager.default.attributesOfItem(atPath: copy.path)[.size] as? Int ?? 0
            index += deb.controlText + "\nFilename: ./\(name)\nSize: \(size)\nSHA256: \(try await SHA256Sum.of(file: copy))\n\n"
        }
        for rpm in allRPMs {
            let copy = directory.appendingPathComponent(rpm.lastPathComponent)
            try? FileManager.default.removeItem(at: copy)
            try FileManager.default.copyItem(at: rpm, to: copy)
        }
        if !allDebs.isEmpty {
            let packages = directory.appendingPathComponent("Packages")
            try Data(index.utf8).write(to: packages)
            // apt refuses a repository without a Release file; this one names the index's checksum.
            let size = index.utf8.count
            let release = """
                Origin: vmtest
                Label: vmtest run
                Architectures: \(Set(allDebs.map(\.architecture)).sorted().joined(separator: " "))
                SHA256:
                 \(try await SHA256Sum.of(file: packages)) \(size) Packages

                """
            try Data(release.utf8).write(to: directory.appendingPathComponent("Release"))
        }
        if !allRPMs.isEmpty {
            // gzip throughout: CentOS 7's yum reads nothing newer.
            try await ExternalTool.createrepo.run(["--quiet", "--general-compress-type=gz", directory.path])
        }
        let served = ServedRepository(directory: directory, guestPath: guestPath, debs: allDebs, rpms: allRPMs)
        if !allRPMs.isEmpty {
            try Data(served.dnfRepository.utf8).write(to: directory.appendingPathComponent(dnfRepositoryFile))
        }
        return served
    }
}
