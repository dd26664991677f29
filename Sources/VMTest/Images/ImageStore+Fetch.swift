import Foundation

/// Fetched images: the SD-card image a tester would `dd`, downloaded once, verified,
/// prepared and kept.
///
/// Layout under `images/PROFILE/`:
///
///     .download-KEY/NAME.part     the download while it runs (resumed when interrupted)
///     .download-KEY/NAME          the verified download, until the prepare succeeds
///     .preparing-PID-RANDOM/      the prepare in progress, renamed to KEY when done
///     .KEY.lock                   held while the image is made (``ImageLock``)
///     KEY/disk.qcow2              the base, read-only (0444), never written again
///     KEY/boot/{vmlinuz,initrd,cmdline}   from the image's extlinux.conf, when it has one
///     KEY/manifest.json           written last: its presence means "complete"
///
/// KEY hashes the URL, the expected checksum (or checksum URL) and the prepare revision.
/// The compressed download is deleted once the base is prepared: the manifest keeps its
/// URL and SHA-256, and the qcow2 is what every run reads.
extension ImageStore {
    func downloadDirectory(for profile: Profile) -> URL {
        root.appendingPathComponent(Self.folderName(for: profile)).appendingPathComponent(".download-\(Self.recipeKey(profile.image))")
    }

    /// Fetches, verifies and prepares the profile's image into the cache; the caller holds
    /// the image's lock (``ImageStore/image(for:reporter:)``).
    ///
    /// A failure keeps a partial download (the next attempt resumes it) and nothing else:
    /// no empty folders, no half-prepared image, no scratch folders of dead processes.
    func fetch(_ profile: Profile, reporter: any Reporter) async throws -> BaseImage {
        let downloads = downloadDirectory(for: profile)
        do {
            let image = try await fetchAndPrepare(profile, reporter: reporter)
            try? FileManager.default.removeItem(at: downloads)
            return image
        } catch {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: downloads.path)) ?? []
            let kept = names.filter { ImageFetcher.size(of: downloads.appendingPathComponent($0)) > 0 }
            if kept.isEmpty { try? FileManager.default.removeItem(at: downloads) }
            throw error
        }
    }

    private func fetchAndPrepare(_ profile: Profile, reporter: any Reporter) async throws -> BaseImage {
        guard let urlText = profile.image.url, let url = URL(string: urlText), url.scheme != nil else {
            throw ImageError.downloadFailed(url: profile.image.url ?? "", reason: "the profile's image.url is not a URL")
        }
        // Every tool before the first byte: a missing one is bad input, not a wasted download.
        for tool in [ExternalTool.sha256sum, .qemuImg, .xz, .debugfs] {
            _ = try tool.resolved()
        }
        let fileManager = FileManager.default
        let target = directory(for: profile)
        let downloads = downloadDirectory(for: profile)
        try fileManager.createDirectory(at: downloads, withIntermediateDirectories: true)
        let name = url.lastPathComponent.removingPercentEncoding ?? url.lastPathComponent
        let fetcher = ImageFetcher(reporter: reporter)

        reporter.begin("image", "fetching \(profile.name): \(urlText)")
        let expected: String
        let checksumSource: String
        if let sha256 = profile.image.sha256 {
            expected = sha256.lowercased()
            checksumSource = "profile"
        } else if let checksumText = profile.image.checksumURL, let checksumURL = URL(string: checksumText) {
            reporter.detail("image", "reading the checksum file \(checksumText)")
            let text = try await fetcher.fetchText(checksumURL, scratch: downloads.appendingPathComponent("checksums.part"), label: "image")
            let checksums = ChecksumFile(parsing: text)
            guard let listed = checksums.sha256(for: name) else {
                throw ImageError.checksumNotListed(checksumURL: checksumText, file: name, listed: Array(checksums.sha256ByName.keys))
            }
            expected = listed
            checksumSource = checksumText
        } else {
            throw ImageError.downloadFailed(
                url: urlText, reason: "the profile gives neither sha256 nor checksumURL, so the download could not be trusted")
        }

        // A download verified by an earlier attempt whose prepare failed is not fetched again.
        let verified = downloads.appendingPathComponent(name)
        let fetched: ImageFetcher.Download
        let actual: String
        if fileManager.fileExists(atPath: verified.path), try await SHA256Sum.of(file: verified) == expected {
            fetched = .init(bytes: ImageFetcher.size(of: verified), resumedFrom: [], seconds: 0)
            actual = expected
        } else {
            try? fileManager.removeItem(at: verified)
            let part = downloads.appendingPathComponent(name + ".part")
            fetched = try await fetcher.fetch(url, to: part, label: "image")
            reporter.detail(
                "image",
                String(format: "fetched %@ in %.1f s; verifying its SHA-256", ImageFetcher.formatBytes(fetched.bytes), fetched.seconds))
            actual = try await SHA256Sum.of(file: part)
            guard actual == expected else {
                try? fileManager.removeItem(at: downloads)
                throw ImageError.checksumMismatch(url: urlText, expected: expected, actual: actual, checksumSource: checksumSource)
            }
            try fileManager.moveItem(at: part, to: verified)
        }

        let prepareStarted = ContinuousClock.now
        let scratch = try ScratchFolder.make(in: target.deletingLastPathComponent(), prefix: ".preparing")
        defer { try? fileManager.removeItem(at: scratch) }
        let prepared = try await ImagePreparer(reporter: reporter)
            .prepare(download: verified, into: scratch, needsBootFiles: profile.boot.method == .directKernel)
        reporter.detail("image", "checksumming the prepared disk")
        let diskSHA256 = try await SHA256Sum.of(file: prepared.disk)
        let prepareSeconds = (ContinuousClock.now - prepareStarted).seconds

        func inTarget(_ file: URL?) -> String? {
            guard let file else { return nil }
            return target.path + file.path.dropFirst(scratch.path.count)
        }
        let image = BaseImage(
            directory: target.path,
            disk: inTarget(prepared.disk)!,
            kernel: inTarget(prepared.boot?.kernel),
            initrd: inTarget(prepared.boot?.initrd),
            kernelCommandLine: prepared.boot?.commandLine,
            diskSHA256: diskSHA256,
            buildSeconds: fetched.seconds + prepareSeconds,
            builtAt: Date(),
            origin: ImageOrigin(
                url: urlText, downloadSHA256: actual, checksumSource: checksumSource, downloadBytes: fetched.bytes,
                resumedFrom: fetched.resumedFrom, fetchSeconds: fetched.seconds, prepareSeconds: prepareSeconds,
                bootConfiguration: prepared.boot?.origin))
        try ManifestJSON.encoder.encode(image).write(to: scratch.appendingPathComponent(Self.manifestName))
        _ = chmod(prepared.disk.path, 0o444)
        try? fileManager.removeItem(at: target)
        try fileManager.moveItem(at: scratch, to: target)
        reporter.end(
            "image", seconds: fetched.seconds + prepareSeconds,
            String(
                format: "fetched %@ in %.1f s, prepared in %.1f s (disk sha256 %@...)%@",
                ImageFetcher.formatBytes(fetched.bytes), fetched.seconds, prepareSeconds, String(diskSHA256.prefix(12)),
                prepared.boot.map { "; kernel from \($0.origin)" } ?? ""))
        return image
    }

    /// The profile's folder, when a refused download or a failed build left it empty.
    func removeIfEmpty(_ folder: URL) {
        if (try? FileManager.default.contentsOfDirectory(atPath: folder.path))?.isEmpty == true {
            try? FileManager.default.removeItem(at: folder)
        }
    }
}
