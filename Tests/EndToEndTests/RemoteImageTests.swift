import Foundation
import Testing

@testable import VMTest

/// Issue #7 without the internet: an SD-card image made from the debian12-armhf build,
/// served from 127.0.0.1 in a tree laid out like the CentOS vault, fetched, verified,
/// prepared, booted through U-Boot and directly, and reused with the server gone.
@Suite(.serialized, .timeLimit(.minutes(30))) struct RemoteImageTests {
    static let directory = "altarch/7.9.2009/isos/armhfp"
    static let imageName = "CentOS-Userland-7-armv7hl-vmtest-sda.raw.xz"

    @Test func aCorruptedDownloadIsRefusedAndNothingIsCached() async throws {
        let fixture = try await SDCardFixture.shared.image()
        let vault = try await LocalVault.start(serving: fixture, corruptPrefix: "/corrupt/")
        defer { vault.stop() }
        let cache = try temporaryDirectory("corrupt-cache")
        defer { try? FileManager.default.removeItem(at: cache) }

        // The BSD/CentOS `CHECKSUM` style this time; the download comes through a path
        // that flips one byte in the middle of the file.
        let profile = try vault.profile(
            name: "vault-corrupt", imagePath: "/corrupt/\(Self.directory)/\(Self.imageName)",
            checksumPath: "/\(Self.directory)/CHECKSUM", method: "u-boot", in: cache)
        let store = ImageStore(root: cache.appendingPathComponent("images"))
        let error = try await #require(throws: ImageError.self) {
            try await store.image(for: profile, reporter: LineReporter(isTerminal: false))
        }
        guard case .checksumMismatch(let url, let expected, let actual, let source) = error else {
            Issue.record("expected a checksum mismatch, got \(error)")
            return
        }
        #expect(url == profile.image.url)
        #expect(expected == fixture.sha256)
        #expect(actual != fixture.sha256 && actual.count == 64)
        #expect(source.hasSuffix("/CHECKSUM"))
        #expect(
            error.description.contains(fixture.sha256) && error.description.contains(actual)
                && error.description.contains("nothing was cached"))
        #expect(ExitStatus.for(error) == ExitStatus.infrastructure)
        // Nothing cached, not even the bad download or an empty folder.
        let left = FileManager.default.subpaths(atPath: cache.appendingPathComponent("images").path) ?? []
        #expect(left.isEmpty, "left behind: \(left)")
        #expect(store.cached(profile) == nil)
        #expect(vault.requests().contains { $0.path.hasPrefix("/corrupt/") && $0.status == 200 })

        // The same through file:// against the profile's own sha256: a local copy with one
        // byte flipped.
        let copy = cache.appendingPathComponent("mirror").appendingPathComponent(Self.imageName)
        try FileManager.default.createDirectory(at: copy.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: fixture.file, to: copy)
        let handle = try FileHandle(forUpdating: copy)
        try handle.seek(toOffset: UInt64(fixture.bytes / 3))
        let byte = try #require(try handle.read(upToCount: 1)?.first)
        try handle.seek(toOffset: UInt64(fixture.bytes / 3))
        try handle.write(contentsOf: [byte ^ 0x01])
        try handle.close()
        let yaml = try String(contentsOf: cache.appendingPathComponent("vault-corrupt.yaml"), encoding: .utf8)
            .replacingOccurrences(
                of: #"url: http://127\.0\.0\.1:[0-9]+/corrupt/.*"#, with: "url: \(copy.absoluteString)", options: .regularExpression
            )
            .replacingOccurrences(of: #"checksumURL: .*"#, with: "sha256: \(fixture.sha256)", options: .regularExpression)
        let local = cache.appendingPathComponent("local-corrupt.yaml")
        try yaml.write(to: local, atomically: true, encoding: .utf8)
        let localProfile = try ProfileLoader.load(file: local)
        #expect(localProfile.image.url == copy.absoluteString && localProfile.image.sha256 == fixture.sha256)
        let localError = try await #require(throws: ImageError.self) {
            try await store.image(for: localProfile, reporter: LineReporter(isTerminal: false))
        }
        #expect(localError.description.contains("the profile's sha256 says \(fixture.sha256)"), "\(localError)")
        #expect((FileManager.default.subpaths(atPath: cache.appendingPathComponent("images").path) ?? []).isEmpty)
    }

    @Test func aPartialDownloadLeftByAnEarlierProcessIsResumed() async throws {
        let fixture = try await SDCardFixture.shared.image()
        let vault = try await LocalVault.start(serving: fixture)
        defer { vault.stop() }
        let cache = try temporaryDirectory("partial-cache")
        defer { try? FileManager.default.removeItem(at: cache) }
        let profile = try vault.profile(
            name: "vault-partial", imagePath: "/\(Self.directory)/\(Self.imageName)",
            checksumPath: "/\(Self.directory)/sha256sum.txt", method: "u-boot", in: cache)
        // What a process killed after 10 MiB leaves where the store downloads to.
        let store = ImageStore(root: cache.appendingPathComponent("images"))
        let downloads = store.downloadDirectory(for: profile)
        try FileManager.default.createDirectory(at: downloads, withIntermediateDirectories: true)
        let part = downloads.appendingPathComponent(Self.imageName + ".part")
        let head = try FileHandle(forReadingFrom: fixture.file).read(upToCount: 10 << 20) ?? Data()
        try head.write(to: part)

        let url = try #require(profile.image.url.flatMap(URL.init(string:)))
        let result = try await ImageFetcher(reporter: LineReporter(isTerminal: false)).fetch(url, to: part, label: "image")
        #expect(result.resumedFrom == [10 << 20])
        #expect(result.bytes == fixture.bytes)
        #expect(try await SHA256Sum.of(file: part) == fixture.sha256)
        let requests = vault.requests()
        #expect(requests.count == 1 && requests.first?.range == "bytes=\(10 << 20)-" && requests.first?.status == 206, "\(requests)")
        #expect(requests.first.map { $0.sent + (10 << 20) } == Int(fixture.bytes))
    }

    @Test func anSDCardImageIsFetchedResumedVerifiedPreparedBootedThroughUBootAndReusedOffline() async throws {
        let fixture = try await SDCardFixture.shared.image()
        let dropAfter = 32 << 20
        let vault = try await LocalVault.start(serving: fixture, dropOnceAfter: dropAfter)
        defer { vault.stop() }
        let cache = try temporaryDirectory("cache")
        defer { try? FileManager.default.removeItem(at: cache) }
        let profile = try vault.profile(
            name: "vault-sdcard", imagePath: "/\(Self.directory)/\(Self.imageName)",
            checksumPath: "/\(Self.directory)/sha256sum.txt", method: "u-boot", in: cache)
        let directories = Directories(cache: cache, state: EndToEnd.directories.state)
        let store = ImageStore(root: directories.images)

        // Fetch (interrupted once by the server, resumed), verify, prepare.
        let image = try await store.image(for: profile, reporter: LineReporter(isTerminal: false))
        let origin = try #require(image.origin)
        #expect(origin.downloadSHA256 == fixture.sha256)
        #expect(origin.downloadBytes == fixture.bytes)
        #expect(origin.resumedFrom == [Int64(dropAfter)], "resumed from \(origin.resumedFrom)")
        let requests = vault.requests().filter { $0.path.hasSuffix(Self.imageName) }
        #expect(requests.count == 2, "\(requests)")
        #expect(requests.first?.dropped == true && requests.first?.range == nil)
        #expect(requests.last?.range == "bytes=\(dropAfter)-" && requests.last?.status == 206)
        #expect(requests.last.map { $0.sent + dropAfter } == Int(fixture.bytes))
        #expect(origin.bootConfiguration == "partition 2 (ext), /extlinux/extlinux.conf, label centos")

        // The prepared base: read-only, checksummed, boot files out of the image's /boot.
        let disk = URL(fileURLWithPath: image.disk)
        #expect(try FileManager.default.attributesOfItem(atPath: disk.path)[.posixPermissions] as? Int == 0o444)
        #expect(try await SHA256Sum.of(file: disk) == image.diskSHA256)
        let base = fixture.base
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: try #require(image.kernel)))
                == Data(contentsOf: URL(fileURLWithPath: try #require(base.kernel))))
        #expect(
            try Data(contentsOf: URL(fileURLWithPath: try #require(image.initrd)))
                == Data(contentsOf: URL(fileURLWithPath: try #require(base.initrd))))
        #expect(image.kernelCommandLine == "console=ttyAMA0 root=LABEL=rootfs rw")
        let leftovers = try FileManager.default.contentsOfDirectory(
            atPath: disk.deletingLastPathComponent().deletingLastPathComponent().path)
        #expect(leftovers == [URL(fileURLWithPath: image.directory).lastPathComponent], "download or scratch folders left: \(leftovers)")

        // Boot as the board does: U-Boot reads the image's extlinux.conf.
        let launcher = GuestLauncher(directories: directories, reporter: LineReporter(isTerminal: false))
        let uBootLog = cache.appendingPathComponent("u-boot-console.log")
        var options = LaunchOptions()
        options.consoleLog = uBootLog
        options.cold = true  // both boots from firmware and kernel, timed; restoring is WarmRestoreTests' job
        let uBoot = try await launcher.withGuest(profile, options: options) { guest in
            let machine = try await guest.shell.run("uname -m", timeout: .seconds(120))
            let root = try await guest.shell.run("findmnt -n -o SOURCE /", timeout: .seconds(120))
            return (machine.standardOutput, root.standardOutput, guest.phases)
        }
        #expect(uBoot.0 == "armv7l\n")
        #expect(uBoot.1 == "/dev/vda4\n", "the root is the SD card's fourth partition")
        let uBootConsole = try String(contentsOf: uBootLog, encoding: .utf8)
        #expect(uBootConsole.contains("U-Boot 2023"))
        #expect(uBootConsole.contains("Retrieving file: /extlinux/extlinux.conf"))
        #expect(uBootConsole.contains("Retrieving file: /vmlinuz-vmtest"))

        // The server is gone: the cached image is used without any network.
        vault.stop()
        let requestsBefore = vault.requests().count
        #expect(store.cached(profile)?.diskSHA256 == image.diskSHA256)
        let reused = try await store.image(for: profile, reporter: SilentReporter())
        #expect(reused.disk == image.disk && reused.diskSHA256 == image.diskSHA256 && reused.origin == image.origin)

        // Direct kernel boot of the same image, with what was taken from its extlinux.conf.
        var direct = profile
        direct.boot.method = .directKernel
        let directLog = cache.appendingPathComponent("direct-console.log")
        options.consoleLog = directLog
        let directBoot = try await launcher.withGuest(direct, options: options) { guest in
            let cmdline = try await guest.shell.run("cat /proc/cmdline", timeout: .seconds(120))
            let root = try await guest.shell.run("findmnt -n -o SOURCE /", timeout: .seconds(120))
            return (cmdline.standardOutput, root.standardOutput, guest.phases)
        }
        #expect(
            directBoot.0 == "console=ttyAMA0 root=LABEL=rootfs rw oops=panic panic=-1\n",
            "the image's own command line, an oops or a panic rebooting")
        #expect(directBoot.1 == "/dev/vda4\n")
        #expect(!(try String(contentsOf: directLog, encoding: .utf8)).contains("U-Boot"))
        #expect(vault.requests().count == requestsBefore)
        #expect(try await SHA256Sum.of(file: disk) == image.diskSHA256, "the base image changed")

        func toShell(_ phases: [PhaseTiming]) -> Double {
            phases.filter { ["boot", "ready"].contains($0.name) }.map(\.seconds).reduce(0, +)
        }
        print(
            String(
                format:
                    "measured: fixture %.1f s (%@); fetch %.2f s (%.0f MiB/s) for %.1f MiB; prepare %.1f s; U-Boot boot to a shell %.1f s; direct-kernel boot to a shell %.1f s",
                fixture.buildSeconds, fixture.wasCached ? "cached" : "built", origin.fetchSeconds,
                Double(origin.downloadBytes) / 1_048_576 / max(origin.fetchSeconds, 0.001), Double(origin.downloadBytes) / 1_048_576,
                origin.prepareSeconds, toShell(uBoot.2), toShell(directBoot.2)))
    }

    /// The shipped centos7-armhfp profile, unchanged but for where its image comes from:
    /// the stand-in laid out as CentOS's kickstart made it, through U-Boot, the password
    /// login on ttyAMA0 and the example RPM's tests over a payload disk; booted cold and
    /// saved by the first run, restored by the second.
    @Test func theCentOSProfileBootsItsStandInThroughUBootLogsInWithItsPasswordAndTestsAPackageColdThenWarm() async throws {
        let fixture = try await SDCardFixture.shared.image()
        let vault = try await LocalVault.start(serving: fixture)
        defer { vault.stop() }
        let home = try temporaryDirectory("centos")
        defer { try? FileManager.default.removeItem(at: home) }
        let shipped = try String(
            contentsOf: EndToEnd.repository.appendingPathComponent("profiles/centos7-armhfp.yaml"), encoding: .utf8)
        let served = "http://127.0.0.1:\(vault.port)/\(Self.directory)"
        let yaml =
            shipped
            .replacingOccurrences(of: #"(?m)^  url: .*$"#, with: "  url: \(served)/\(Self.imageName)", options: .regularExpression)
            .replacingOccurrences(
                of: #"(?m)^  checksumURL: .*$"#, with: "  checksumURL: \(served)/sha256sum.txt", options: .regularExpression)
        #expect(yaml.components(separatedBy: served).count == 3, "both image addresses replaced")
        let profile = home.appendingPathComponent("centos7-armhfp.yaml")
        try yaml.write(to: profile, atomically: true, encoding: .utf8)
        let hello = try #require(try await RunTests.examplePackages()["vmtest-hello"])
        // Its own cache and state: the download, the prepared image and the saved guest go
        // with them. The state folder's path is short: the embedded driver's monitor
        // socket lies deep inside it, and a UNIX socket's path has at most 107 bytes.
        let state = URL(fileURLWithPath: "/tmp/vmtest-state-\(getpid())")
        defer { try? FileManager.default.removeItem(at: state) }
        let environment = ["VMTEST_CACHE_DIR": home.appendingPathComponent("cache").path, "VMTEST_STATE_DIR": state.path]
        let layout = [
            #"[ "$(findmnt -rn -o FSTYPE,LABEL /)" = "ext4 rootfs" ]"#,
            #"[ "$(findmnt -rn -o FSTYPE,LABEL /boot)" = "ext3 boot" ]"#,
            #"[ "$(findmnt -n -o FSTYPE /boot/fw)" = vfat ] && test -f /boot/fw/README.TXT"#,
            #"[ "$(swapon --noheadings --show=LABEL)" = swap ]"#,
            "test -e /etc/cloud/cloud-init.disabled && ! systemctl -q is-active cloud-init.service",
            "grep -q '^root:\\$6\\$' /etc/shadow && systemctl -q is-active serial-getty@ttyAMA0.service",
        ]

        func run(_ name: String) async throws -> (RunTests.Summary, String, Double) {
            let results = RunTests.results("centos-\(name)")
            let started = ContinuousClock.now
            defer { try? FileManager.default.removeItem(at: results) }
            let run = try await EndToEnd.vmtest(
                ["run", profile.path, "--rpm", hello, "--results", results.path] + layout.flatMap { ["--test", $0] },
                environment: environment)
            #expect(run.status == 0, "\(name) run: \(run.error)")
            let console = (try? String(contentsOf: results.appendingPathComponent("console.log"), encoding: .utf8)) ?? ""
            return (try RunTests.summary(in: results), console, (ContinuousClock.now - started).seconds)
        }

        let (cold, coldConsole, coldSeconds) = try await run("cold")
        #expect(cold.verdict == "passed" && cold.channel == "serial")
        #expect(cold.tests.filter { $0.verdict != "passed" }.isEmpty, "\(cold.tests.filter { $0.verdict != "passed" })")
        #expect(
            cold.tests.map(\.name).starts(with: ["install", "rpm-verify vmtest-hello", "vmtest-hello/hello.test"])
                && cold.tests.count == 3 + layout.count,
            "install, rpm-verify, the installed tests and the checks: \(cold.tests.map(\.name))")
        #expect(cold.phases.map(\.name).contains("boot") && cold.phases.map(\.name).contains("save"), "\(cold.phases.map(\.name))")
        let warmState = try #require(cold.warmState, "the first run saves the guest")
        for seen in ["U-Boot 2023", "Retrieving file: /extlinux/extlinux.conf", "login:", "Password:"] {
            #expect(coldConsole.contains(seen), "the cold boot's console shows \(seen)")
        }

        let (warm, _, warmSeconds) = try await run("warm")
        #expect(warm.verdict == "passed")
        #expect(warm.tests.filter { $0.verdict != "passed" }.isEmpty, "\(warm.tests.filter { $0.verdict != "passed" })")
        #expect(warm.warmState == warmState)
        #expect(
            warm.phases.map(\.name).contains("restore") && !warm.phases.map(\.name).contains("boot"), "\(warm.phases.map(\.name))")
        #expect(vault.requests().filter { $0.path.hasSuffix(Self.imageName) }.count == 1, "the image is downloaded once")
        print(
            String(
                format: "measured: centos7-armhfp stand-in, first run (download, prepare, boot, save) %.1f s, restored run %.1f s",
                coldSeconds, warmSeconds))
    }

    private func temporaryDirectory(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "vmtest-remote-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// The SD-card image `script/make-sdcard-image` makes from the debian12-armhf build,
/// cached beside the images (keyed by the base's checksum: about 25 s to make).
actor SDCardFixture {
    static let shared = SDCardFixture()
    /// Raise when script/make-sdcard-image changes what it makes.
    static let revision = 2

    struct Image: Sendable {
        var file: URL
        var sha256: String
        var bytes: Int64
        var base: BaseImage
        var buildSeconds: Double
        var wasCached: Bool
    }

    private var made: Image?

    func image() async throws -> Image {
        if let made { return made }
        let profile = try await EndToEnd.debianProfile()
        let base = try #require(ImageStore(root: EndToEnd.directories.images).cached(profile))
        let folder = EndToEnd.directories.cache.appendingPathComponent("fixtures")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let file = folder.appendingPathComponent("sdcard-\(base.diskSHA256.prefix(16))-r\(Self.revision).raw.xz")
        let started = ContinuousClock.now
        let wasCached = FileManager.default.fileExists(atPath: file.path)
        if !wasCached {
            let script = EndToEnd.repository.appendingPathComponent("script/make-sdcard-image")
            let result = try await ChildProcess.run("/bin/bash", [script.path, base.directory, file.path])
            #expect(result.status == 0, "make-sdcard-image: \(result.error)")
        }
        let seconds = (ContinuousClock.now - started).seconds
        let image = Image(
            file: file, sha256: try await SHA256Sum.of(file: file), bytes: ImageFetcher.size(of: file), base: base,
            buildSeconds: seconds, wasCached: wasCached)
        made = image
        return image
    }
}

/// `script/serve-vault.py` on 127.0.0.1, serving the fixture as the vault serves CentOS
/// images: the image and both checksum-file styles in `altarch/7.9.2009/isos/armhfp`.
final class LocalVault: Sendable {
    struct Request: Decodable, Sendable {
        var path: String
        var range: String?
        var status: Int
        var sent: Int
        var dropped: Bool?
    }

    let root: URL
    let port: Int
    private let process: Process
    private let log: URL

    private init(root: URL, port: Int, process: Process, log: URL) {
        self.root = root
        self.port = port
        self.process = process
        self.log = log
    }

    static func start(serving fixture: SDCardFixture.Image, dropOnceAfter: Int? = nil, corruptPrefix: String? = nil) async throws
        -> LocalVault
    {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "vmtest-vault-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let folder = root.appendingPathComponent("tree").appendingPathComponent(RemoteImageTests.directory)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            at: folder.appendingPathComponent(RemoteImageTests.imageName), withDestinationURL: fixture.file)
        let name = RemoteImageTests.imageName
        try "\(fixture.sha256)  \(name)\n".write(to: folder.appendingPathComponent("sha256sum.txt"), atomically: true, encoding: .utf8)
        try "SHA256 (\(name)) = \(fixture.sha256)\n".write(to: folder.appendingPathComponent("CHECKSUM"), atomically: true, encoding: .utf8)

        let portFile = root.appendingPathComponent("port")
        let log = root.appendingPathComponent("requests.jsonl")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        var arguments = [
            EndToEnd.repository.appendingPathComponent("script/serve-vault.py").path, root.appendingPathComponent("tree").path,
            "--port-file", portFile.path, "--log", log.path,
        ]
        if let dropOnceAfter { arguments += ["--drop-once-after", String(dropOnceAfter)] }
        if let corruptPrefix { arguments += ["--corrupt-prefix", corruptPrefix] }
        process.arguments = arguments
        try process.run()
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: portFile.path) && process.isRunning {
            try await Task.sleep(for: .milliseconds(50))
        }
        guard let text = try? String(contentsOf: portFile, encoding: .utf8), let port = Int(text) else {
            if process.isRunning { process.terminate() }
            throw VaultError(message: "serve-vault.py did not start")
        }
        return LocalVault(root: root, port: port, process: process, log: log)
    }

    /// A profile for the served image, written as a YAML file and loaded like any other.
    func profile(name: String, imagePath: String, checksumPath: String, method: String, in directory: URL) throws -> Profile {
        let yaml = """
            summary: the SD-card test image from a local vault
            arch: armv7l
            machine: virt
            cpus: 2
            memory: 1024
            image:
              url: http://127.0.0.1:\(port)\(imagePath)
              checksumURL: http://127.0.0.1:\(port)\(checksumPath)
            boot:
              method: \(method)
            console:
              device: ttyAMA0
              login: password
              user: root
              password: centos
            provisioning: serial
            install: rpm -Uv --nodeps {packages}

            """
        let file = directory.appendingPathComponent("\(name).yaml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        return try ProfileLoader.load(file: file)
    }

    func requests() -> [Request] {
        guard let text = try? String(contentsOf: log, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(Request.self, from: Data($0.utf8)) }
    }

    /// Stops the server (our own child, by PID); the tree stays until the vault is freed.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: root)
    }

    struct VaultError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}

/// Runs a program to completion on a thread of its own (never blocking the cooperative pool).
enum ChildProcess {
    static func run(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, output: String, error: String) {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(
                    with: Result {
                        let process = Process()
                        process.executableURL = URL(fileURLWithPath: executable)
                        process.arguments = arguments
                        let output = Pipe()
                        let error = Pipe()
                        process.standardOutput = output
                        process.standardError = error
                        try process.run()
                        // Both pipes drained at once, so neither can fill and stall the child.
                        let errorText = LockedText()
                        let drained = DispatchSemaphore(value: 0)
                        Thread {
                            errorText.append(String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
                            drained.signal()
                        }.start()
                        let outputData = output.fileHandleForReading.readDataToEndOfFile()
                        drained.wait()
                        process.waitUntilExit()
                        return (process.terminationStatus, String(decoding: outputData, as: UTF8.self), errorText.value)
                    })
            }.start()
        }
    }
}
