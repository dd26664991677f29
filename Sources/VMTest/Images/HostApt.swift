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

    /// What to ask apt for: a package, or (with `dependencyPrefix`) the versioned package
    /// a meta package depends on (`linux-image-arm64` -> `linux-image-6.1.0-50-arm64`).
    public struct Request: Sendable, Hashable {
        public var name: String
        public var dependencyPrefix: String?

        public init(_ name: String, dependencyPrefix: String? = nil) {
            self.name = name
            self.dependencyPrefix = dependencyPrefix
        }
    }

    /// The candidate versions, in the order asked, with one `apt-cache` call (each call
    /// reads every package list: seconds on a host without apt's binary cache).
    public func candidates(_ requests: [Request]) async throws -> [DebianPackageVersion] {
        let stanzas = try await show(requests.map(\.name))
        var found: [DebianPackageVersion] = []
        for request in requests {
            let qualified = "\(request.name):\(architecture)"
            guard let stanza = stanzas[request.name], let version = stanza["Version"] else {
                throw CompatKernelError.packageUnknown(qualified, architecture: architecture, detail: "apt-cache shows no candidate")
            }
            guard let prefix = request.dependencyPrefix,
                let dependency = Self.dependency(in: stanza["Depends"] ?? "", prefix: prefix)
            else {
                found.append(DebianPackageVersion(package: qualified, version: version))
                continue
            }
            if let pinned = dependency.version {
                found.append(DebianPackageVersion(package: "\(dependency.name):\(architecture)", version: pinned))
            } else {
                found += try await candidates([Request(dependency.name)])
            }
        }
        return found
    }

    /// `apt-cache show --no-all-versions` of the packages: name to fields.
    private func show(_ names: [String]) async throws -> [String: DebianControlFile.Paragraph] {
        let qualified = names.map { "\($0):\(architecture)" }
        let text: String
        do {
            text = try await ExternalTool.aptCache.run(["show", "--no-all-versions"] + qualified)
        } catch ToolError.failed(_, _, _, let standardError) {
            throw CompatKernelError.packageUnknown(qualified.joined(separator: ", "), architecture: architecture, detail: standardError)
        }
        var byName: [String: DebianControlFile.Paragraph] = [:]
        for stanza in try DebianControlFile.parse(text, file: "apt-cache show").paragraphs {
            if let name = stanza["Package"], byName[name] == nil { byName[name] = stanza }
        }
        return byName
    }

    /// Downloads packages (exact versions) into `directory`; returns the .deb files.
    public func download(_ packages: [DebianPackageVersion], into directory: URL) async throws -> [URL] {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // The sandbox user _apt may not write into a folder of root's.
        try await ExternalTool.aptGet.run(
            ["download", "-q", "-o", "APT::Sandbox::User=root"] + packages.map(\.pinned),
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
