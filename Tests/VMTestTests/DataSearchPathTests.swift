import Foundation
import Testing

@testable import VMTest

/// The search order for profiles, plans, cloud-init templates and image recipes, on a
/// made-up machine in a temporary folder: working directory, home, /etc, an installed
/// prefix and a source tree, each holding what a test puts there.
@Suite struct DataSearchPathTests {
    struct Machine {
        let root: URL
        var work: URL { root.appendingPathComponent("work") }
        var home: URL { root.appendingPathComponent("home") }
        var etc: URL { root.appendingPathComponent("etc/vmtest") }
        var prefix: URL { root.appendingPathComponent("opt/vmtest") }
        var source: URL { root.appendingPathComponent("src") }

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-search-\(UUID().uuidString)")
            for folder in [work, home, etc, prefix.appendingPathComponent("bin"), source] {
                try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            }
        }

        func search(environment: [String: String] = [:]) -> DataSearchPath {
            DataSearchPath(
                environment: ["HOME": home.path].merging(environment) { $1 }, workingDirectory: work,
                executable: prefix.appendingPathComponent("bin/vmtest"), systemConfiguration: etc, sourceTree: source)
        }

        /// Writes `relativePath` under `folder`, creating its folders.
        @discardableResult
        func put(_ relativePath: String, in folder: URL, _ text: String = "x\n") throws -> URL {
            let file = folder.appendingPathComponent(relativePath)
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try text.write(to: file, atomically: true, encoding: .utf8)
            return file
        }

        func remove() { try? FileManager.default.removeItem(at: root) }
    }

    @Test func locationsComeInTheDocumentedOrder() throws {
        let machine = try Machine()
        defer { machine.remove() }
        let option = machine.root.appendingPathComponent("given")
        let locations = machine.search(environment: ["VMTEST_PROFILES": "/env/profiles"])
            .locations(of: .profiles, option: ("--profiles", option))
        #expect(
            locations.map(\.directory.path) == [
                option.path, "/env/profiles", machine.work.path + "/profiles", machine.home.path + "/.config/vmtest/profiles",
                machine.etc.path + "/profiles", machine.prefix.path + "/share/vmtest/profiles", machine.source.path + "/profiles",
            ])
        #expect(locations.map(\.origin.isShipped) == [false, false, false, false, false, true, true])
    }

    @Test func xdgConfigHomeReplacesDotConfig() throws {
        let machine = try Machine()
        defer { machine.remove() }
        let locations = machine.search(environment: ["XDG_CONFIG_HOME": "/xdg"]).locations(of: .plans)
        #expect(locations.contains { $0.directory.path == "/xdg/vmtest/plans" && $0.origin == .userConfiguration })
        #expect(!locations.contains { $0.directory.path.contains(".config") })
    }

    @Test func anInstalledProfileWinsOverTheSourceTreesAndAUsersWinsOverBoth() throws {
        let machine = try Machine()
        defer { machine.remove() }
        try machine.put("profiles/a.yaml", in: machine.source)
        try machine.put("profiles/b.yaml", in: machine.source)
        let installed = try machine.put("share/vmtest/profiles/a.yaml", in: machine.prefix)
        let users = try machine.put(".config/vmtest/profiles/b.yaml", in: machine.home)
        let entries = ProfileCatalog.standard(search: machine.search()).entries()
        #expect(entries.map(\.name) == ["a", "b"])
        #expect(entries[0].file == installed && entries[0].shadowedShipped.isEmpty)
        #expect(entries[1].file == users)
        #expect(entries[1].shadowedShipped == [machine.source.appendingPathComponent("profiles/b.yaml")])
    }

    @Test func aUsersProfileHidingAnotherUsersIsNotMarked() throws {
        let machine = try Machine()
        defer { machine.remove() }
        try machine.put("profiles/a.yaml", in: machine.work)
        try machine.put("profiles/a.yaml", in: machine.etc)
        let entry = try #require(ProfileCatalog.standard(search: machine.search()).entries().first)
        #expect(entry.location.origin == .workingDirectory)
        #expect(entry.shadowedShipped.isEmpty)
    }

    @Test func noProfilesAnywhereNamesEveryFolderLookedIn() throws {
        let machine = try Machine()
        defer { machine.remove() }
        let catalog = ProfileCatalog.standard(search: machine.search())
        #expect(catalog.entries().isEmpty)
        #expect(catalog.searchedDescription.contains(machine.etc.path + "/profiles (system configuration, absent)"))
        #expect(catalog.searchedDescription.contains(machine.prefix.path + "/share/vmtest/profiles (installed, absent)"))
        #expect(throws: ProfileError.self) { try catalog.load("debian12-armhf") }
    }

    @Test func imageRecipesCloudInitAndPlansFollowTheSameOrder() throws {
        let machine = try Machine()
        defer { machine.remove() }
        try machine.put("images/debian12-armhf/init", in: machine.source)
        try machine.put("cloud-init/user-data", in: machine.source)
        let installedRecipe = try machine.put("share/vmtest/images/debian12-armhf/init", in: machine.prefix).deletingLastPathComponent()
        // An image folder without `init` is not a recipe and is passed over.
        try FileManager.default.createDirectory(
            at: machine.work.appendingPathComponent("images/debian12-armhf"), withIntermediateDirectories: true)
        let search = machine.search()
        #expect(search.imageRecipe(named: "debian12-armhf") == installedRecipe)
        #expect(search.imageRecipe(named: "debian13-arm64") == nil)
        #expect(search.cloudInitTemplates() == machine.source.appendingPathComponent("cloud-init"))
        let own = try machine.put("templates/user-data", in: machine.root).deletingLastPathComponent()
        #expect(machine.search(environment: ["VMTEST_CLOUD_INIT": own.path]).cloudInitTemplates() == own)

        let shippedPlan = try machine.put("share/vmtest/plans/nightly.yaml", in: machine.prefix)
        #expect(search.plan("nightly") == shippedPlan)
        #expect(search.plan("plans/nightly.yaml") == shippedPlan)
        let localPlan = try machine.put("plans/nightly.yaml", in: machine.work)
        #expect(search.plan("nightly") == localPlan)
        #expect(search.plan("elsewhere/none.yaml") == nil)
        #expect(search.plan("/absolute/none.yaml") == nil)
    }
}
