import Foundation

/// A Debian package at an exact version, as the host's apt sees it.
public struct DebianPackageVersion: Sendable, Hashable, Codable {
    /// Package name with its architecture (`linux-image-6.1.0-50-arm64:arm64`).
    public var package: String
    public var version: String

    public init(package: String, version: String) {
        self.package = package
        self.version = version
    }

    /// `package=version`, what `apt-get download` takes to fetch exactly this one.
    public var pinned: String { "\(package)=\(version)" }
}

/// Foreign-architecture packages through the host's own apt (`dpkg --add-architecture
/// arm64`, done by script/setup): no second apt configuration to keep, the mirror is the
/// host's, and asking for a version reads the local lists, so a cached kit costs no network.
public struct HostApt: Sendable {
    public var architecture: String

    public init(architecture: String) {
        self.architecture = architecture
    }

    static let aptCache = ExternalTool("apt-cache", debianPackage: "apt")
    static let aptGet = ExternalTool("apt-get", debianPackage: "apt")

    /// The candidate version of a package; for a meta package (`linux-image-arm64`) the
    /// versioned package it depends on (`linux-image-6.1.0-50-arm64`) whose name starts
    /// with `dependencyPrefix`.
    public func candidate(_ name: String, followingDependencyPrefix dependencyPrefix: String? = nil) async throws -> DebianPackageVersion {
        let qualified = "\(name):\(architecture)"
        let text: String
        do {
            text = try await Self.aptCache.run(["show", "--no-all-versions", qualified])
        } catch ToolError.failed(_, _, _, let standardError) {
            throw CompatKernelError.packageUnknown(qualified, architecture: architecture, detail: standardError)
        }
        let stanza = Self.parseStanza(text)
        guard let version = stanza["Version"] else {
            throw CompatKernelError.packageUnknown(qualified, architecture: architecture, detail: "no Version field")
        }
        guard let dependencyPrefix else { return DebianPackageVersion(package: qualified, version: version) }
        guard let dependency = Self.dependency(in: stanza["Depends"] ?? "", prefix: dependencyPrefix) else {
            // Already a versioned package (linux-image-6.1.0-50-arm64).
            return DebianPackageVersion(package: qualified, version: version)
        }
        return try await candidate(dependency.name).pinning(dependency.version)
    }

    /// Downloads packages (exact versions) into `directory`; returns the .deb files.
    public func download(_ packages: [DebianPackageVersion], into directory: URL) async throws -> [URL] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // The sandbox user _apt may not write into a folder of root's.
        try await Self.aptGet.run(["download", "-q", "-o", "APT::Sandbox::User=root"] + packages.map(\.pinned),
                                  workingDirectory: directory.path)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".deb") }
        return try packages.map { package in
            let bare = String(package.package.prefix { $0 != ":" })
            guard let name = names.first(where: { $0.hasPrefix(bare + "_") }) else {
                throw DebianImageBuildError.bootPackageMissing(bare, directory: directory.path)
            }
            return directory.appendingPathComponent(name)
        }
    }

    /// The first stanza of `apt-cache show` output: field name to value (continuation
    /// lines joined).
    static func parseStanza(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        var last: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty { if !fields.isEmpty { break } else { continue } }
            if line.first == " " || line.first == "\t" {
                if let last { fields[last, default: ""] += "\n" + line.trimmingCharacters(in: .whitespaces) }
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = String(line[..<colon])
            fields[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            last = name
        }
        return fields
    }

    /// In a Depends field, the first package whose name starts with `prefix`, and the
    /// version an `(= VERSION)` pins it to.
    static func dependency(in depends: String, prefix: String) -> (name: String, version: String?)? {
        for alternative in depends.split(whereSeparator: { $0 == "," || $0 == "|" }) {
            let words = alternative.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1)
            guard let first = words.first else { continue }
            let name = String(first.prefix { $0 != ":" })
            guard name.hasPrefix(prefix) else { continue }
            var version: String?
            if words.count == 2, let match = words[1].firstMatch(of: /\(\s*=\s*([^)\s]+)\s*\)/) {
                version = String(match.1)
            }
            return (name, version)
        }
        return nil
    }
}

extension DebianPackageVersion {
    /// The same package at the version a dependency pinned, if it pinned one.
    func pinning(_ version: String?) -> DebianPackageVersion {
        guard let version else { return self }
        return DebianPackageVersion(package: package, version: version)
    }
}
