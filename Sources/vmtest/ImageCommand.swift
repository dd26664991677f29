import ArgumentParser
import Foundation
import VMTest

struct ImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Build or fetch, list and remove base images, and save their guests' ready states.",
        subcommands: [Build.self, Warm.self, List.self, Remove.self])

    struct Build: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Build a profile's base image, or fetch it when the profile gives a URL (instant when it is cached).",
            discussion: """
                A profile with `image.build` is built from its recipe. A profile with `image.url` is \
                downloaded (resumed when interrupted), verified against its `sha256` or its mirror's \
                checksum file, decompressed, converted to qcow2 and its kernel, initrd and command line \
                copied out of its extlinux.conf. A cached image is used without any network access.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Profile name or path.", completion: profileNameCompletion) var profile: String
        @Flag(help: "Build (or fetch) again even if a cached image exists.") var force = false

        func run() async throws {
            let global = global
            let name = profile
            let force = force
            try await runReportingErrors {
                let profile = try global.catalog.load(name)
                let store = ImageStore(root: Directories.standard().images)
                let reporter = LineReporter()
                if !force, let image = store.cached(profile) {
                    reporter.note("\(profile.name) is already \(image.origin == nil ? "built" : "fetched"): \(image.directory)")
                    return ExitStatus.success
                }
                let image = try await store.build(profile, reporter: reporter)
                print(image.directory)
                return ExitStatus.success
            }
        }
    }

    struct Warm: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Save a profile's guest once it is ready, so runs restore it instead of booting (instant when saved).",
            discussion: "Runs do this themselves on first use; this does it ahead, e.g. before a nightly plan.")
        @OptionGroup var global: GlobalOptions
        @OptionGroup var acceleration: AcceleratorOptions
        @Argument(help: "Profile name or path.", completion: profileNameCompletion) var profile: String

        func run() async throws {
            let global = global
            let name = profile
            let acceleration = acceleration.request
            try await runReportingErrors {
                let profile = try global.catalog.load(name)
                let reporter = LineReporter()
                let report = try await PackageTestRunner(launcher: GuestLauncher(reporter: reporter)).warmUp(
                    profile, connectURI: global.connectURI, accelerator: acceleration)
                if let error = report.infrastructureError {
                    reporter.note("could not warm \(profile.name): \(error)")
                    return ExitStatus.infrastructure
                }
                guard let key = report.warmState else {
                    reporter.note("\(profile.name) boots cold (see the note above): nothing saved")
                    return ExitStatus.infrastructure
                }
                let saved = report.phases.contains { $0.name == "save" }
                reporter.note(
                    "\(profile.name): saved state \(key) \(saved ? "saved" : "already saved"); a restore took \(String(format: "%.2f", report.phases.first { $0.name == "restore" }?.seconds ?? 0)) s"
                )
                return ExitStatus.success
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List built and fetched images.")
        func run() async throws {
            let images = ImageStore(root: Directories.standard().images).list()
            if images.isEmpty { print("no images built yet; try `vmtest image build debian12-armhf`") }
            for (name, image) in images {
                let size = (try? FileManager.default.attributesOfItem(atPath: image.disk)[.size] as? Int) ?? 0
                let source = image.origin.map { "fetched from \($0.url)" } ?? "built"
                print("\(name)\t\(size / (1 << 20)) MiB\tsha256:\(image.diskSHA256.prefix(16))\t\(image.directory)\t\(source)")
                for state in WarmStateStore(image: image).list() {
                    let bytes = (try? FileManager.default.attributesOfItem(atPath: state.directory + "/state.save")[.size] as? Int) ?? 0
                    print(
                        "  saved state \(state.key)\t\(bytes / (1 << 20)) MiB\tsaved \(UTCTimestamp(state.bakedAt).iso8601)\t\(state.inputs.qemu)"
                    )
                }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rm",
            abstract: "Remove the images a profile boots (built or fetched), their saved states and unfinished downloads.",
            discussion: "Profiles built from the same recipe share their image: removing it removes it for each of them.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Profile name or path.", completion: profileNameCompletion) var profile: String
        func run() async throws {
            let global = global
            let name = profile
            try await runReportingErrors {
                let profile = try global.catalog.load(name)
                let count = try ImageStore(root: Directories.standard().images).remove(imagesOf: profile)
                print(count == 0 ? "no images of \(profile.name)" : "removed \(count) image(s) of \(profile.name)")
                return ExitStatus.success
            }
        }
    }
}
