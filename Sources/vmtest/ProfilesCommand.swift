import ArgumentParser
import Foundation
import VMTest

struct ProfilesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profiles",
        abstract: "List, show and validate guest profiles.",
        subcommands: [List.self, Show.self, Validate.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the profiles, each with its file; a user's profile that hides a shipped one says so.",
            discussion: "Exits 2, naming every folder it looked in, when it finds no profile.")
        @OptionGroup var global: GlobalOptions
        func run() async throws {
            let catalog = global.catalog
            let entries = catalog.entries()
            guard !entries.isEmpty else {
                FileHandle.standardError.writeIfOpen("vmtest: no profiles found; looked in:\n\(catalog.searchedDescription)\n")
                throw ExitCode(ExitStatus.badInput)
            }
            for entry in entries {
                let summary =
                    (try? catalog.load(entry.file.path)).flatMap(\.summary) ?? "(invalid: run `vmtest profiles validate \(entry.name)`)"
                let shadows = entry.shadowedShipped.map { "\t(shadows shipped \($0.path))" }.joined()
                print("\(entry.name)\t\(summary)\t\(entry.file.path)\(shadows)")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a profile's file.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "Profile name.", completion: profileNameCompletion) var profile: String
        func run() async throws {
            let global = global
            let name = profile
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
        @Argument(help: "Profile files or names (default: every profile).", completion: profileNameCompletion) var files: [String] = []
        func run() async throws {
            let catalog = global.catalog
            let targets = files.isEmpty ? catalog.names() : files
            var failed = false
            for target in targets {
                do {
                    let profile = try catalog.load(target)
                    print("ok: \(profile.name)")
                } catch {
                    FileHandle.standardError.writeIfOpen("vmtest: \(error)\n")
                    failed = true
                }
            }
            if failed { throw ExitCode(ExitStatus.badInput) }
        }
    }
}
