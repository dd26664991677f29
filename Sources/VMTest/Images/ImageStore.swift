import Foundation

/// Base images under the cache directory, one folder per image and recipe: built from a
/// recipe, or fetched from a URL (see `ImageStore+Fetch.swift`).
///
/// A folder is named after a hash of the recipe (or URL and checksum) that made it, so
/// changing a profile's package list makes a new image instead of silently reusing the
/// old one. A build happens in a temporary folder that is renamed into place only when it
/// succeeded: a folder with a manifest is complete, and a cached manifest means no work
/// and no network at all.
public struct ImageStore: Sendable {
    public let root: URL
    /// Builds a recipe's image into an empty folder: the Debian builder, or a test's stand-in.
    let builder: Builder

    typealias Builder = @Sendable (DebianImageRecipe, URL, @escaping @Sendable (String) -> Void) async throws -> BuiltImage

    public init(root: URL) {
        self.init(root: root) { recipe, folder, progress in
            try await DebianImageBuilder(recipe: recipe).build(into: folder, progress: progress)
        }
    }

    init(root: URL, builder: @escaping Builder) {
        self.root = root
        self.builder = builder
    }

    static let manifestName = "manifest.json"

    public func directory(for profile: Profile) -> URL {
        root.appendingPathComponent(Self.folderName(for: profile)).appendingPathComponent(Self.recipeKey(profile.image))
    }

    /// A built image is named after what it is built from, so the profiles that boot one
    /// recipe in different ways (debian12-armhf's kernel directly, debian12-armhf-uboot's
    /// through U-Boot) share one disk and build it once; a fetched image after its profile.
    static func folderName(for profile: Profile) -> String {
        guard let recipe = profile.image.build?.debian else { return profile.name }
        return "debian-\(recipe.suite)-\(recipe.architecture)"
    }

    /// The built image for this profile's current recipe, if there is one.
    public func cached(_ profile: Profile) -> BaseImage? {
        let manifest = directory(for: profile).appendingPathComponent(Self.manifestName)
        guard let data = try? Data(contentsOf: manifest) else { return nil }
        return try? ManifestJSON.decoder.decode(BaseImage.self, from: data)
    }

    /// Returns the cached image, building or fetching it first if needed.
    public func image(for profile: Profile, reporter: any Reporter) async throws -> BaseImage {
        if let image = try usable(cached(profile), for: profile) { return image }
        return try await make(profile, reporter: reporter, replacing: false)
    }

    /// Builds the profile's image from its recipe, or fetches and prepares it from its URL,
    /// replacing a cached one.
    public func build(_ profile: Profile, reporter: any Reporter) async throws -> BaseImage {
        try await make(profile, reporter: reporter, replacing: true)
    }

    /// A fetched image for a U-Boot profile may have no kernel (no extlinux.conf): no use
    /// to a profile that boots the kernel directly.
    private func usable(_ image: BaseImage?, for profile: Profile) throws -> BaseImage? {
        guard let image else { return nil }
        if profile.boot.method == .directKernel, image.kernel == nil, let url = image.origin?.url {
            throw ImageError.noBootConfiguration(image: URL(string: url)?.lastPathComponent ?? url, searched: ExtlinuxConfig.searchPaths)
        }
        return image
    }

    /// Makes the image under its lock: whoever waited for it finds it made, unless asked
    /// for a new one (`replacing`, as `image build --force` does).
    private func make(_ profile: Profile, reporter: any Reporter, replacing: Bool) async throws -> BaseImage {
        let fetched = profile.image.build == nil && profile.image.url != nil
        guard fetched || profile.image.build?.debian != nil else { throw ImageError.notBuildable(profile: profile.name) }
        let target = directory(for: profile)
        let lock = try await ImageLock.acquire(
            target.deletingLastPathComponent().appendingPathComponent(".\(target.lastPathComponent).lock")
        ) {
            reporter.note("another vmtest is making \(profile.name)'s image; waiting for it")
        }
        defer {
            lock.release()
            removeIfEmpty(target.deletingLastPathComponent())
        }
        if !replacing, let image = try usable(cached(profile), for: profile) { return image }
        return fetched ? try await fetch(profile, reporter: reporter) : try await buildFromRecipe(profile, reporter: reporter)
    }

    private func buildFromRecipe(_ profile: Profile, reporter: any Reporter) async throws -> BaseImage {
        let recipe = profile.image.build!.debian!
        let fileManager = FileManager.default
        let target = directory(for: profile)
        let scratch = try ScratchFolder.make(in: target.deletingLastPathComponent(), prefix: ".building")
        defer { try? fileManager.removeItem(at: scratch) }

        let started = ContinuousClock.now
        reporter.begin("image", "building \(profile.name) from \(recipe.mirror) (\(recipe.suite), \(recipe.architecture))")
        let built = try await builder(recipe, scratch) { message in
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

    /// Every built or fetched image: its name (``folderName(for:)``) and folder.
    public func list() -> [(name: String, image: BaseImage)] {
        let fileManager = FileManager.default
        var found: [(String, BaseImage)] = []
        for name in (try? fileManager.contentsOfDirectory(atPath: root.path))?.sorted() ?? [] {
            let folder = root.appendingPathComponent(name)
            for key in (try? fileManager.contentsOfDirectory(atPath: folder.path))?.sorted() ?? [] where !key.hasPrefix(".") {
                let manifest = folder.appendingPathComponent(key).appendingPathComponent(Self.manifestName)
                if let data = try? Data(contentsOf: manifest), let image = try? ManifestJSON.decoder.decode(BaseImage.self, from: data) {
                    found.append((name, image))
                }
            }
        }
        return found
    }

    /// Deletes every image the profile boots (shared with the profiles of the same recipe);
    /// returns how many there were.
    @discardableResult
    public func remove(imagesOf profile: Profile) throws -> Int {
        let name = Self.folderName(for: profile)
        let folder = root.appendingPathComponent(name)
        let count = list().filter { $0.name == name }.count
        if FileManager.default.fileExists(atPath: folder.path) {
            try FileManager.default.removeItem(at: folder)
        }
        return count
    }

    /// What the builder makes for the same recipe; raise it whenever the builder's output
    /// changes (boot setup, initramfs, guest configuration), so cached images are rebuilt.
    static let builderRevision = 5
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
