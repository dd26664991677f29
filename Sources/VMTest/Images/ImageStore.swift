import Foundation

/// A base image ready to boot: the disk every run overlays, and how to boot it.
public struct BaseImage: Sendable, Hashable, Codable {
    public var directory: String
    public var disk: String
    public var kernel: String?
    public var initrd: String?
    public var kernelCommandLine: String?
    /// SHA-256 of the disk as built: proof in every report that runs used the same base.
    public var diskSHA256: String
    public var buildSeconds: Double?
    public var builtAt: Date
    /// Where a fetched image came from and what preparing it found; nil for built images.
    public var origin: ImageOrigin?
}

/// The provenance of a fetched image, recorded in its manifest.
public struct ImageOrigin: Sendable, Hashable, Codable {
    public var url: String
    /// SHA-256 of the file as downloaded, verified before anything was prepared.
    public var downloadSHA256: String
    /// Where the expected checksum came from: `profile` or the checksum file's URL.
    public var checksumSource: String
    public var downloadBytes: Int64
    /// Offsets at which the server continued an interrupted download (empty when none was).
    public var resumedFrom: [Int64]
    public var fetchSeconds: Double
    /// Decompress, convert to qcow2, extract the boot files.
    public var prepareSeconds: Double
    /// Which extlinux.conf (and entry) the kernel, initrd and command line came from.
    public var bootConfiguration: String?
}

/// Base images under the cache directory, one folder per profile and recipe: built from
/// a recipe, or fetched from a URL (see `ImageStore+Fetch.swift`).
///
/// A folder is named after a hash of the recipe (or URL and checksum) that made it, so
/// changing a profile's package list makes a new image instead of silently reusing the
/// old one. A build happens in a temporary folder that is renamed into place only when it
/// succeeded: a folder with a manifest is complete, and a cached manifest means no work
/// and no network at all.
public struct ImageStore: Sendable {
    public let root: URL

    public init(root: URL) {
        self.root = root
    }

    static let manifestName = "manifest.json"

    public func directory(for profile: Profile) -> URL {
        root.appendingPathComponent(profile.name).appendingPathComponent(Self.recipeKey(profile.image))
    }

    /// The built image for this profile's current recipe, if there is one.
    public func cached(_ profile: Profile) -> BaseImage? {
        let manifest = directory(for: profile).appendingPathComponent(Self.manifestName)
        guard let data = try? Data(contentsOf: manifest) else { return nil }
        return try? ManifestJSON.decoder.decode(BaseImage.self, from: data)
    }

    /// Returns the cached image, building or fetching it first if needed.
    public func image(for profile: Profile, reporter: any Reporter) async throws -> BaseImage {
        if let image = cached(profile) {
            // Fetched for a U-Boot profile from an image without extlinux.conf: no kernel.
            if profile.boot.method == .directKernel, image.kernel == nil, let url = image.origin?.url {
                throw ImageError.noBootConfiguration(image: URL(string: url)?.lastPathComponent ?? url, searched: ExtlinuxConfig.searchPaths)
            }
            return image
        }
        if profile.image.build == nil, profile.image.url != nil {
            return try await fetch(profile, reporter: reporter, replacing: false)
        }
        return try await build(profile, reporter: reporter)
    }

    /// Builds the profile's image from its recipe, or fetches and prepares it from its URL,
    /// replacing a cached one.
    public func build(_ profile: Profile, reporter: any Reporter) async throws -> BaseImage {
        if profile.image.build == nil, profile.image.url != nil {
            return try await fetch(profile, reporter: reporter, replacing: true)
        }
        guard let recipe = profile.image.build?.debian else {
            throw ImageError.notBuildable(profile: profile.name)
        }
        let fileManager = FileManager.default
        let target = directory(for: profile)
        let scratch = target.deletingLastPathComponent().appendingPathComponent(".building-\(getpid())")
        try? fileManager.removeItem(at: scratch)
        try fileManager.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? fileManager.removeItem(at: scratch) }

        let started = ContinuousClock.now
        reporter.begin("image", "building \(profile.name) from \(recipe.mirror) (\(recipe.suite), \(recipe.architecture))")
        let built = try await DebianImageBuilder(recipe: recipe).build(into: scratch) { message in
            reporter.detail("image", message)
        }
        reporter.detail("image", "checksumming the disk")
        let checksum = try await SHA256Sum.of(file: URL(fileURLWithPath: built.disk))
        let seconds = (ContinuousClock.now - started).seconds
        var image = BaseImage(
            directory: target.path,
            disk: target.appendingPathComponent(URL(fileURLWithPath: built.disk).lastPathComponent).path,
            kernel: target.appendingPathComponent(URL(fileURLWithPath: built.kernel).lastPathComponent).path,
            initrd: target.appendingPathComponent(URL(fileURLWithPath: built.initrd).lastPathComponent).path,
            kernelCommandLine: built.kernelCommandLine,
            diskSHA256: checksum,
            buildSeconds: seconds,
            builtAt: Date(),
            origin: nil)
        try ManifestJSON.encoder.encode(image).write(to: scratch.appendingPathComponent(Self.manifestName))
        // The base is never written again: make that a property of the file system.
        _ = chmod(built.disk, 0o444)
        try? fileManager.removeItem(at: target)
        try fileManager.moveItem(at: scratch, to: target)
        image.directory = target.path
        reporter.end("image", seconds: seconds, "built \(profile.name) (disk sha256 \(checksum.prefix(12))...)")
        return image
    }

    /// Every built image: profile name and folder.
    public func list() -> [(profile: String, image: BaseImage)] {
        let fileManager = FileManager.default
        var found: [(String, BaseImage)] = []
        for profile in (try? fileManager.contentsOfDirectory(atPath: root.path))?.sorted() ?? [] {
            let folder = root.appendingPathComponent(profile)
            for key in (try? fileManager.contentsOfDirectory(atPath: folder.path))?.sorted() ?? [] where !key.hasPrefix(".") {
                let manifest = folder.appendingPathComponent(key).appendingPathComponent(Self.manifestName)
                if let data = try? Data(contentsOf: manifest), let image = try? ManifestJSON.decoder.decode(BaseImage.self, from: data) {
                    found.append((profile, image))
                }
            }
        }
        return found
    }

    /// Deletes every image of the profile; returns how many there were.
    @discardableResult
    public func remove(profileName: String) throws -> Int {
        let folder = root.appendingPathComponent(profileName)
        let count = list().filter { $0.profile == profileName }.count
        if FileManager.default.fileExists(atPath: folder.path) {
            try FileManager.default.removeItem(at: folder)
        }
        return count
    }

    /// What the builder makes for the same recipe; raise it whenever the builder's output
    /// changes (boot setup, initramfs, guest configuration), so cached images are rebuilt.
    static let builderRevision = 2
    /// The same for fetched images: raise it whenever preparing changes (layout, boot
    /// file extraction), so fetched images are prepared again.
    static let prepareRevision = 1

    /// A short stable hash of the image section (for a fetched image: URL, sha256 and
    /// checksum URL) and the builder or prepare revision (FNV-1a over canonical JSON).
    static func recipeKey(_ source: ImageSource) -> String {
        let revision = source.build == nil && source.url != nil ? "prepare:\(prepareRevision)" : "builder:\(builderRevision)"
        return StableHash.fnv1a(((try? ManifestJSON.canonical.encode(source)) ?? Data()) + Data(revision.utf8))
    }
}

public enum ImageError: Error, CustomStringConvertible, Sendable, Equatable {
    case notBuildable(profile: String)
    /// The download is not the file the profile (or the mirror's checksum file) describes.
    case checksumMismatch(url: String, expected: String, actual: String, checksumSource: String)
    /// The checksum file has no line for the image.
    case checksumNotListed(checksumURL: String, file: String, listed: [String])
    case downloadFailed(url: String, reason: String)
    /// Direct kernel boot needs the image's kernel, and no extlinux.conf names one.
    case noBootConfiguration(image: String, searched: [String])
    case unusableBootConfiguration(file: String, reason: String)

    public var description: String {
        switch self {
        case .notBuildable(let profile):
            return "profile \(profile) has no build recipe; its image is downloaded, not built"
        case .checksumMismatch(let url, let expected, let actual, let source):
            let claim = source == "profile" ? "the profile's sha256" : source
            return "the download of \(url) has SHA-256 \(actual), but \(claim) says \(expected); "
                + "it was deleted and nothing was cached. Fetch again (a mirror may have served a damaged or changed file); "
                + "if it happens again, check the profile's url and checksum"
        case .checksumNotListed(let checksumURL, let file, let listed):
            return "the checksum file \(checksumURL) lists no SHA-256 for \(file)"
                + (listed.isEmpty ? " (it lists none at all)" : " (it lists \(listed.sorted().prefix(5).joined(separator: ", ")))")
                + "; check the profile's url and checksumURL, or give `sha256:` in the profile"
        case .downloadFailed(let url, let reason):
            return "cannot fetch \(url): \(reason). Check the URL and the network; an interrupted download resumes on the next attempt"
        case .noBootConfiguration(let image, let searched):
            return "\(image) has no extlinux.conf (searched \(searched.joined(separator: " and ")) on its boot partitions), "
                + "so there is no kernel for direct kernel boot; use `boot: {method: u-boot}`"
        case .unusableBootConfiguration(let file, let reason):
            return "the image's \(file) cannot be used for direct kernel boot: \(reason); use `boot: {method: u-boot}`"
        }
    }
}

/// SHA-256 of a file through coreutils' `sha256sum`: streaming and native speed, and
/// the same number a person gets by running it by hand.
enum SHA256Sum {
    static let tool = ExternalTool("sha256sum", debianPackage: "coreutils")

    static func of(file: URL) async throws -> String {
        let output = try await tool.run([file.path])
        return String(output.prefix { $0 != " " })
    }
}

/// A copy-on-write disk over a base image: all of a run's writes land here.
public enum Overlay {
    public static func create(at path: URL, over base: String) async throws {
        try await ExternalTool.qemuImg.run(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base, path.path])
    }
}
