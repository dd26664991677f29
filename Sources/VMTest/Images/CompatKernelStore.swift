import Foundation

/// The compat kernel kit under the cache directory: `CACHE/kernels/debian12-arm64/KEY/`
/// holding `vmlinuz`, `initrd.img` and `manifest.json`.
///
/// KEY hashes what the kit is made of: the kernel and busybox package versions the host's
/// apt offers, the compat `/init` script, the module set and the builder's revision. A
/// new kernel in the mirror (after `apt-get update`) or a changed `/init` makes a new kit;
/// otherwise a kit is built once (downloading about 60 MB, then 10-30 s of native work)
/// and every armhf image boots with it. Like ``ImageStore``, a kit is built in a scratch
/// folder and renamed into place: a folder with a manifest is complete.
public struct CompatKernelStore: Sendable {
    public let root: URL
    public var moduleSet = CompatModuleSet()
    /// Directory holding `compat-init` (the repository's `images/debian12`); found by
    /// ``DebianImageBuilder/locateDataDirectory()`` when `nil`.
    public var dataDirectory: URL?

    /// Debian's packages: the arm64 kernel meta package and the busybox the initramfs runs.
    static let architecture = "arm64"
    static let kernelMetaPackage = "linux-image-arm64"
    static let busyboxPackage = "busybox-static"
    static let initScriptName = "compat-init"
    static let manifestName = "manifest.json"
    /// Raise whenever the builder's output changes for the same inputs.
    static let builderRevision = 1

    public init(root: URL, dataDirectory: URL? = nil) {
        self.root = root
        self.dataDirectory = dataDirectory
    }

    /// The store in vmtest's cache directory.
    public init(directories: Directories) {
        self.init(root: directories.cache.appendingPathComponent("kernels").appendingPathComponent("debian12-arm64"))
    }

    /// The kit for the newest kernel the host's apt knows, built first if needed.
    ///
    /// Costs no network when the kit is cached. When the host's apt cannot answer (no
    /// arm64 lists), a cached kit made with the same `/init` and modules is used, and
    /// the reporter says so.
    public func kit(reporter: any Reporter) async throws -> CompatKernel {
        let initScript = try Data(
            contentsOf: try (dataDirectory ?? DebianImageBuilder.locateDataDirectory())
                .appendingPathComponent(Self.initScriptName))
        let apt = HostApt(architecture: Self.architecture)
        let kernelPackage: DebianPackageVersion
        let busyboxPackage: DebianPackageVersion
        do {
            let found = try await apt.candidates([
                .init(Self.kernelMetaPackage, dependencyPrefix: "linux-image-"), .init(Self.busyboxPackage),
            ])
            (kernelPackage, busyboxPackage) = (found[0], found[1])
        } catch let error as CompatKernelError {
            let layout = Self.layoutKey(initScript: initScript, moduleSet: moduleSet)
            guard let cached = cachedKits().filter({ $0.layout == layout }).max(by: { $0.kit.builtAt < $1.kit.builtAt }) else {
                throw error
            }
            reporter.note("using the cached 64-bit guest kernel \(cached.kit.kernelPackage.pinned): \(error)")
            return cached.kit
        }
        let key = Self.key(kernel: kernelPackage, busybox: busyboxPackage, initScript: initScript, moduleSet: moduleSet)
        let target = root.appendingPathComponent(key)
        if let kit = Self.readManifest(in: target) { return kit }
        return try await build(
            into: target, kernel: kernelPackage, busybox: busyboxPackage,
            initScript: initScript, reporter: reporter)
    }

    private func build(
        into target: URL, kernel: DebianPackageVersion, busybox: DebianPackageVersion, initScript: Data, reporter: any Reporter
    ) async throws -> CompatKernel {
        let fm = FileManager.default
        let scratch = try ScratchFolder.make(in: root, prefix: ".building")
        defer { try? fm.removeItem(at: scratch) }
        let started = ContinuousClock.now
        reporter.begin("kernel", "building the 64-bit guest kernel kit from \(kernel.pinned)")
        let downloads = scratch.appendingPathComponent("debs.tmp")
        reporter.detail("kernel", "downloading \(kernel.pinned) and \(busybox.pinned)")
        let debs = try await HostApt(architecture: Self.architecture).download([kernel, busybox], into: downloads)
        let output = try await CompatKernelBuilder(kernelDeb: debs[0], busyboxDeb: debs[1], initScript: initScript, moduleSet: moduleSet)
            .build(into: scratch) { reporter.detail("kernel", $0) }
        try fm.removeItem(at: downloads)
        let seconds = (ContinuousClock.now - started).seconds
        let kit = CompatKernel(
            directory: target.path,
            kernel: target.appendingPathComponent("vmlinuz").path,
            initrd: target.appendingPathComponent("initrd.img").path,
            kernelRelease: output.kernelRelease,
            kernelPackage: kernel,
            busyboxPackage: busybox,
            kernelCommandLineAdditions: [],
            rootModules: output.rootLoadOrder,
            runtimeModules: output.runtimeOnly,
            buildSeconds: seconds,
            builtAt: Date())
        let manifest = Manifest(kit: kit, layout: Self.layoutKey(initScript: initScript, moduleSet: moduleSet))
        try ManifestJSON.encoder.encode(manifest).write(to: scratch.appendingPathComponent(Self.manifestName))
        // Another process may have finished the same kit meanwhile (before or during the
        // rename): keep the one in place.
        if let existing = Self.readManifest(in: target) { return existing }
        do {
            try fm.moveItem(at: scratch, to: target)
        } catch {
            guard let existing = Self.readManifest(in: target) else { throw error }
            return existing
        }
        reporter.end("kernel", seconds: seconds, "built the 64-bit guest kernel kit \(output.kernelRelease) in \(target.path)")
        // As read back: what later calls return (the manifest keeps whole seconds).
        return Self.readManifest(in: target) ?? kit
    }

    /// What a kit folder's manifest.json holds: the kit, and the hash of what does not
    /// depend on package versions (for the offline fallback).
    struct Manifest: Codable {
        var kit: CompatKernel
        var layout: String
    }

    private func cachedKits() -> [Manifest] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.compactMap { name in
            let url = root.appendingPathComponent(name).appendingPathComponent(Self.manifestName)
            return (try? Data(contentsOf: url)).flatMap { try? ManifestJSON.decoder.decode(Manifest.self, from: $0) }
        }
    }

    static func readManifest(in directory: URL) -> CompatKernel? {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent(manifestName)),
            var kit = (try? ManifestJSON.decoder.decode(Manifest.self, from: data))?.kit
        else { return nil }
        // The cache directory may have moved since the kit was built.
        kit.directory = directory.path
        kit.kernel = directory.appendingPathComponent("vmlinuz").path
        kit.initrd = directory.appendingPathComponent("initrd.img").path
        return kit
    }

    /// The folder name of a kit: FNV-1a over canonical JSON of everything it is made of.
    static func key(kernel: DebianPackageVersion, busybox: DebianPackageVersion, initScript: Data, moduleSet: CompatModuleSet) -> String {
        struct Inputs: Encodable {
            var kernel: DebianPackageVersion
            var busybox: DebianPackageVersion
            var layout: String
        }
        let inputs = Inputs(kernel: kernel, busybox: busybox, layout: layoutKey(initScript: initScript, moduleSet: moduleSet))
        return StableHash.fnv1a((try? ManifestJSON.canonical.encode(inputs)) ?? Data())
    }

    /// The part of the key that does not depend on package versions.
    static func layoutKey(initScript: Data, moduleSet: CompatModuleSet) -> String {
        struct Layout: Encodable {
            var initScript: String
            var moduleSet: CompatModuleSet
            var revision: Int
        }
        let layout = Layout(initScript: StableHash.fnv1a(initScript), moduleSet: moduleSet, revision: builderRevision)
        return StableHash.fnv1a((try? ManifestJSON.canonical.encode(layout)) ?? Data())
    }
}
