import ArgumentParser
import Foundation
import VMTest

struct ProfilesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profiles",
        abstract: "List, show and validate guest profiles.",
        subcommands: [List.self, Show.self, Validate.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the profiles in the profiles directory.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            let catalog = global.catalog
            for name in catalog.names() {
                let summary = (try? catalog.load(name)).flatMap(\.summary) ?? "(invalid: run `vmtest profiles validate \(name)`)"
                print("\(name)\t\(summary)")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a profile's file.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Profile name.") var profile: String
        func run() async throws {
            let global = global, name = profile
            try await runReportingErrors {
                let profile = try global.catalog.load(name)
                let file = name.contains("/") ? URL(fileURLWithPath: name) : global.catalog.file(named: profile.name)
                print("# \(file.path)")
                print(try String(contentsOf: file, encoding: .utf8), terminator: "")
                return ExitStatus.success
            }
        }
    }

    struct Validate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check profile files; exit 2 with file, line and fix for the first problem in each.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Profile files or names (default: every profile).") var files: [String] = []
        func run() async throws {
            let catalog = global.catalog
            let targets = files.isEmpty ? catalog.names() : files
            var failed = false
            for target in targets {
                do {
                    let profile = try catalog.load(target)
                    print("ok: \(profile.name)")
                } catch {
                    FileHandle.standardError.write(Data("vmtest: \(error)\n".utf8))
                    failed = true
                }
            }
            if failed { throw ExitCode(ExitStatus.badInput) }
        }
    }
}
