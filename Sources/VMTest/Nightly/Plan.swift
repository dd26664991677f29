import Foundation

/// A nightly smoke test: every profile against every package set, spread over
/// hypervisors. Plans are YAML files, checked like profiles (file, line, fix).
///
/// ```yaml
/// profiles: [debian12-armhf]
/// packages:
///   - updates/                     # a directory: each RPM or .deb in it is a set of its own
///   - builds/foo-*.armv7hl.rpm     # a glob: each match is a set of its own
///   - {name: foo-with-bar, rpms: [foo-1.0-1.armv7hl.rpm, bar-2.1-1.armv7hl.rpm]}
///   - {name: baz, debs: [baz_1.0-1_armhf.deb]}   # Debian profiles
///   - {name: hello, tests-from: hello_2.10-3.dsc}  # the source's own tests (`vmtest run --tests-from`)
/// repos: [deps/]                  # RPMs and .debs the packages may depend on (`vmtest run --repo`)
/// tests: ["foo --version"]
/// timeout: 1800
/// retries: 1
/// hypervisors:
///   - {uri: embedded, capacity: 2}
///   - {uri: "qemu+ssh://builder1/system", capacity: 4}
/// ```
public struct Plan: Sendable, Hashable {
    /// The plan's file name without `.yaml`.
    public var name: String
    /// Where relative paths in the plan start from: the plan's folder.
    public var directory: URL
    public var profiles: [String]
    public var packages: [PackageEntry]
    /// Folders of packages served beside every run's own (`vmtest run --repo`).
    public var repositories: [String] = []
    /// More test commands every run runs (`vmtest run --test`).
    public var tests: [String]
    /// A directory of executable tests every run runs (`vmtest run --tests-dir`).
    public var testsDir: String?
    /// Seconds a run may take; nil scales a default by accelerator.
    public var timeout: Int?
    /// Seconds one test may take; nil scales a default by accelerator.
    public var testTimeout: Int?
    /// How many times a run that failed for infrastructure reasons is tried again,
    /// each time on another hypervisor when there is one.
    public var retries: Int
    public var hypervisors: [HypervisorSpec]
    /// `accel: kvm|tcg` and `guestKernel: 32|64`: force how every run's guest runs, as
    /// `vmtest run --accel/--guest-kernel` do; automatic when absent.
    public var accelerator = AcceleratorRequest.automatic
}

/// One line of `packages:`: a file, glob or directory (each RPM or .deb a set of its
/// own), or a named set of RPMs and .debs installed together.
public enum PackageEntry: Sendable, Hashable {
    case path(String)
    case set(name: String, rpms: [String], debs: [String], testsFrom: String?)
}

/// A libvirt hypervisor the plan may use, and how many guests it may run at once.
public struct HypervisorSpec: Sendable, Hashable, Codable {
    /// A libvirt URI, or `embedded` for this process's own QEMU driver.
    public var uri: String
    public var capacity: Int

    /// The URI to connect to; nil for the embedded driver.
    public var connectURI: String? { uri == Self.embedded ? nil : uri }

    public static let embedded = "embedded"
}

extension Plan: Decodable {
    enum CodingKeys: String, CodingKey {
        case profiles, packages, tests, testsDir, timeout, testTimeout, retries, hypervisors, accel, guestKernel
        case repositories = "repos"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        accelerator = AcceleratorRequest(
            accelerator: try container.decodeIfPresent(Accelerator.self, forKey: .accel),
            guestKernel: try container.decodeIfPresent(GuestKernelBits.self, forKey: .guestKernel))
        name = ""
        directory = URL(fileURLWithPath: ".")
        profiles = try container.decode([String].self, forKey: .profiles)
        packages = try container.decode([PackageEntry].self, forKey: .packages)
        repositories = try container.decodeIfPresent([String].self, forKey: .repositories) ?? []
        tests = try container.decodeIfPresent([String].self, forKey: .tests) ?? []
        testsDir = try container.decodeIfPresent(String.self, forKey: .testsDir)
        timeout = try container.decodeIfPresent(Int.self, forKey: .timeout)
        testTimeout = try container.decodeIfPresent(Int.self, forKey: .testTimeout)
        retries = try container.decodeIfPresent(Int.self, forKey: .retries) ?? 1
        hypervisors =
            try container.decodeIfPresent([HypervisorSpec].self, forKey: .hypervisors)
            ?? [HypervisorSpec(uri: HypervisorSpec.embedded, capacity: 1)]
    }
}

extension PackageEntry: Decodable {
    enum CodingKeys: String, CodingKey {
        case name, rpms, debs
        /// Spelt as `vmtest run --tests-from` is.
        case testsFrom = "tests-from"
    }

    public init(from decoder: any Decoder) throws {
        if let path = try? decoder.singleValueContainer().decode(String.self) {
            self = .path(path)
            return
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self = .set(
            name: try container.decode(String.self, forKey: .name),
            rpms: try container.decodeIfPresent([String].self, forKey: .rpms) ?? [],
            debs: try container.decodeIfPresent([String].self, forKey: .debs) ?? [],
            testsFrom: try container.decodeIfPresent(String.self, forKey: .testsFrom))
    }
}

extension HypervisorSpec {
    enum CodingKeys: String, CodingKey {
        case uri, capacity
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        uri = try container.decodeIfPresent(String.self, forKey: .uri) ?? Self.embedded
        capacity = try container.decodeIfPresent(Int.self, forKey: .capacity) ?? 1
    }
}

/// Packages installed together in one run, and the name the report gives them.
public struct PackageSet: Sendable, Hashable, Codable {
    public var name: String
    public var rpms: [String]
    public var debs: [String] = []
    /// Tests the packager wrote, run with the set (`vmtest run --tests-from`).
    public var testsFrom: String?

    /// One file, an RPM or a .deb by its extension.
    init(file: URL) {
        name = file.deletingPathExtension().lastPathComponent
        rpms = file.pathExtension == "deb" ? [] : [file.path]
        debs = file.pathExtension == "deb" ? [file.path] : []
    }

    init(name: String, rpms: [String], debs: [String] = [], testsFrom: String? = nil) {
        self.name = name
        self.rpms = rpms
        self.debs = debs
        self.testsFrom = testsFrom
    }
}

/// A plan that cannot be used, with where and how to fix it.
public struct PlanError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var location: SourceLocation?
    public var message: String
    public var fix: String?

    public var description: String {
        ProfileError(file: file, location: location, message: message, fix: fix).description
    }
}

/// Reads and checks a plan file, and expands its packages into sets.
public enum PlanLoader {
    public static func load(file: URL, catalog: ProfileCatalog) throws(PlanError) -> (Plan, [PackageSet]) {
        let shown = file.relativePathForDisplay
        let text: String
        do {
            text = try TextFile.read(file)
        } catch {
            throw PlanError(file: shown, message: error.problem, fix: error.fix ?? "check the path")
        }
        return try parse(yaml: text, file: file, catalog: catalog)
    }

    public static func parse(yaml: String, file: URL, catalog: ProfileCatalog) throws(PlanError) -> (Plan, [PackageSet]) {
        let shown = file.relativePathForDisplay
        var plan: Plan
        let locations: YAMLLocations
        do {
            (plan, locations) = try StrictYAMLDecoder.decode(Plan.self, from: yaml)
        } catch {
            throw PlanError(file: shown, location: error.location, message: error.message, fix: error.fix)
        }
        plan.name = file.deletingPathExtension().lastPathComponent
        plan.directory = file.deletingLastPathComponent()
        func fail(_ path: String, _ message: String, fix: String) -> PlanError {
            PlanError(file: shown, location: locations.location(of: path), message: message, fix: fix)
        }

        if plan.profiles.isEmpty {
            throw fail("profiles", "the plan names no profile", fix: "list at least one, e.g. `profiles: [debian12-armhf]`")
        }
        for (index, name) in plan.profiles.enumerated() {
            do {
                _ = try catalog.load(name)
            } catch {
                throw fail(
                    "profiles.\(index)", "profile '\(name)' cannot be used: \(error.message)",
                    fix: error.fix ?? "run `vmtest profiles list`")
            }
        }
        if plan.packages.isEmpty {
            throw fail("packages", "the plan names no package", fix: "list RPM files, globs or directories under `packages:`")
        }
        if plan.hypervisors.isEmpty {
            throw fail("hypervisors", "the plan names no hypervisor", fix: "leave `hypervisors:` out to use the embedded driver")
        }
        for (index, hypervisor) in plan.hypervisors.enumerated() {
            if !(1...64).contains(hypervisor.capacity) {
                throw fail(
                    "hypervisors.\(index).capacity", "capacity must be 1 to 64 guests, not \(hypervisor.capacity)",
                    fix: "give how many guests it may run at once")
            }
            if hypervisor.uri != HypervisorSpec.embedded, !hypervisor.uri.contains(":") {
                throw fail(
                    "hypervisors.\(index).uri", "'\(hypervisor.uri)' is not a libvirt URI",
                    fix: "write e.g. `qemu+ssh://builder1/system`, or `embedded`")
            }
            if plan.hypervisors[..<index].contains(where: { $0.uri == hypervisor.uri }) {
                throw fail(
                    "hypervisors.\(index).uri", "hypervisor \(hypervisor.uri) is listed twice", fix: "list it once with its whole capacity")
            }
        }
        if !(0...5).contains(plan.retries) {
            throw fail("retries", "retries must be 0 to 5, not \(plan.retries)", fix: "1 retries an infrastructure failure once")
        }
        if let timeout = plan.timeout, timeout <= 0 {
            throw fail("timeout", "timeout must be a positive number of seconds", fix: "e.g. `timeout: 1800`")
        }
        if let timeout = plan.testTimeout, timeout <= 0 {
            throw fail("testTimeout", "testTimeout must be a positive number of seconds", fix: "e.g. `testTimeout: 600`")
        }
        plan.testsDir = plan.testsDir.map { resolve($0, in: plan.directory).path }
        plan.repositories = plan.repositories.map { resolve($0, in: plan.directory).path }

        var sets: [PackageSet] = []
        for (index, entry) in plan.packages.enumerated() {
            let expanded: [PackageSet]
            switch entry {
            case .path(let text):
                let files = expand(text, in: plan.directory)
                if files.isEmpty {
                    throw fail(
                        "packages.\(index)", "'\(text)' matches no RPM or .deb",
                        fix: "check the path (relative paths start at the plan's folder)")
                }
                expanded = files.map(PackageSet.init(file:))
            case .set(let name, let rpms, let debs, let testsFrom):
                if rpms.isEmpty && debs.isEmpty && testsFrom == nil {
                    throw fail(
                        "packages.\(index)", "package set '\(name)' has no RPM, no .deb and no tests",
                        fix: "list its files under rpms: or debs:, or its tests' source under tests-from:")
                }
                var tests: String?
                if let testsFrom {
                    let source = resolve(testsFrom, in: plan.directory)
                    guard FileManager.default.fileExists(atPath: source.path) else {
                        throw fail(
                            "packages.\(index).tests-from", "no such source tree, .dsc or fmf tree: \(testsFrom)",
                            fix: "check the path (relative paths start at the plan's folder)")
                    }
                    tests = source.path
                }
                func existing(_ paths: [String], key: String, kind: String) throws(PlanError) -> [String] {
                    var files: [String] = []
                    for (fileIndex, path) in paths.enumerated() {
                        let file = resolve(path, in: plan.directory)
                        guard FileManager.default.fileExists(atPath: file.path) else {
                            throw fail(
                                "packages.\(index).\(key).\(fileIndex)", "no such \(kind): \(path)",
                                fix: "check the path (relative paths start at the plan's folder)")
                        }
                        files.append(file.path)
                    }
                    return files
                }
                expanded = [
                    PackageSet(
                        name: name, rpms: try existing(rpms, key: "rpms", kind: "RPM"), debs: try existing(debs, key: "debs", kind: ".deb"),
                        testsFrom: tests)
                ]
            }
            for set in expanded where sets.contains(where: { $0.name == set.name }) {
                throw fail("packages.\(index)", "package set '\(set.name)' appears twice", fix: "name each set once")
            }
            sets += expanded
        }
        return (plan, sets)
    }

    static func resolve(_ path: String, in directory: URL) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : directory.appendingPathComponent(path).standardizedFileURL
    }

    /// A directory's RPMs, a glob's matches, or the one file; sorted.
    static func expand(_ text: String, in directory: URL) -> [URL] {
        let target = resolve(text, in: directory)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: target.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { return [target] }
            let names = (try? FileManager.default.contentsOfDirectory(atPath: target.path)) ?? []
            return names.filter { $0.hasSuffix(".rpm") || $0.hasSuffix(".deb") }.sorted().map { target.appendingPathComponent($0) }
        }
        var matches = glob_t()
        defer { globfree(&matches) }
        guard glob(target.path, 0, nil, &matches) == 0 else { return [] }
        return (0..<Int(matches.gl_pathc)).compactMap { matches.gl_pathv[$0].map { URL(fileURLWithPath: String(cString: $0)) } }
            .filter { ["rpm", "deb"].contains($0.pathExtension) }.sorted { $0.path < $1.path }
    }
}
