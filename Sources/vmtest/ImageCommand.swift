import ArgumentParser
import Foundation
import VMTest

struct ImageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Build, list and remove base images.",
        subcommands: [Build.self, List.self, Remove.self])

    struct Build: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Build a profile's base image (instant when it is cached).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Profile name or path.") var profile: String
        @Flag(help: "Build again even if a cached image exists.") var force = false

        func run() async throws {
            let global = global, name = profile, force = force
            try await runReportingErrors {
                let profile = try global.catalog.load(name)
                let store = ImageStore(root: Directories.standard().images)
                let reporter = LineReporter()
                if !force, let image = store.cached(profile) {
                    reporter.note("\(profile.name) is already built: \(image.directory)")
                    return ExitStatus.success
                }
                let image = try await store.build(profile, reporter: reporter)
                print(image.directory)
                return ExitStatus.success
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List built images.")
        func run() async throws {
            let images = ImageStore(root: Directories.standard().images).list()
            if images.isEmpty { print("no images built yet; try `vmtest image build debian12-armhf`") }
            for (profile, image) in images {
                let size = (try? FileManager.default.attributesOfItem(atPath: image.disk)[.size] as? Int) ?? 0
                print("\(profile)\t\(size / (1 << 20)) MiB\tsha256:\(image.diskSHA256.prefix(16))\t\(image.directory)")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a profile's built images.")
        @Argument(help: "Profile name.") var profile: String
        func run() async throws {
            let count = try ImageStore(root: Directories.standard().images).remove(profileName: profile)
            print(count == 0 ? "no images of \(profile)" : "removed \(count) image(s) of \(profile)")
        }
    }
}
