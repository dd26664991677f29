import Foundation
import Testing

@testable import VMTest

/// vmtest as a new user gets it: `script/install --prefix` from a fresh copy of the
/// repository, then the installed vmtest run from another folder with nothing but `HOME`
/// in its environment (HOME finds the image cache); and the .deb and .rpm that
/// `script/package` makes of it.
@Suite(.serialized, .timeLimit(.minutes(60))) struct InstallTests {
    /// A clean environment: only HOME, for the cache of built images.
    static var cleanEnvironment: [String: String] {
        ["HOME": ProcessInfo.processInfo.environment["HOME"] ?? NSHomeDirectory()]
    }

    /// Runs the installed vmtest from `folder` (default: an empty one) in the clean environment.
    static func installed(_ arguments: [String], in folder: URL? = nil, environment: [String: String] = [:]) async throws -> Shell.Outcome {
        let installation = try await Installation.shared.get()
        return try await Shell.run(
            installation.prefix.appendingPathComponent("bin/vmtest").path, arguments,
            environment: cleanEnvironment.merging(environment) { $1 }, in: folder ?? installation.elsewhere)
    }

    @Test func theInstalledTreeHasTheBinaryDataManPageAndCompletions() async throws {
        let prefix = try await Installation.shared.get().prefix
        for path in [
            "bin/vmtest", "share/vmtest/profiles/debian12-armhf.yaml", "share/vmtest/profiles/centos7-armhfp.yaml",
            "share/vmtest/plans/example.yaml", "share/vmtest/cloud-init/user-data", "share/vmtest/images/debian12/init",
            "share/man/man1/vmtest.1", "share/bash-completion/completions/vmtest", "share/zsh/site-functions/_vmtest",
            "share/fish/vendor_completions.d/vmtest.fish",
        ] {
            #expect(FileManager.default.fileExists(atPath: prefix.appendingPathComponent(path).path), "missing \(path)")
        }
        // Swift's runtime is linked in: the binary runs where no Swift toolchain is installed.
        let libraries = try await Shell.run("/usr/bin/ldd", [prefix.appendingPathComponent("bin/vmtest").path])
        #expect(libraries.status == 0)
        #expect(!libraries.output.contains("libswift") && !libraries.output.contains("libFoundation"), "\(libraries.output)")
        #expect(libraries.output.contains("libvirt.so.0"))
    }

    @Test func listsAndValidatesTheShippedProfilesFromElsewhereWithACleanEnvironment() async throws {
        let installation = try await Installation.shared.get()
        let shipped = installation.prefix.appendingPathComponent("share/vmtest/profiles").path
        let list = try await Self.installed(["profiles", "list"])
        #expect(list.status == 0, "\(list.error)")
        let rows = list.output.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
        let names = ["centos7-armhfp", "debian12-arm64", "debian12-armhf", "debian12-armhf-uboot"]
        #expect(rows.map { $0[0] } == names)
        #expect(rows.map { $0[2] } == names.map { "\(shipped)/\($0).yaml" })

        let validate = try await Self.installed(["profiles", "validate"])
        #expect(validate.status == 0, "\(validate.error)")
        #expect(validate.output == names.map { "ok: \($0)\n" }.joined())

        let version = try await Self.installed(["--version"])
        #expect(version.status == 0)
        #expect(version.output.hasPrefix("vmtest \(VersionReport.vmtest)\nlibvirt "))
        #expect(version.output.contains("QEMU emulator version"))
    }

    @Test func aUsersProfileShadowingAShippedOneIsMarked() async throws {
        let installation = try await Installation.shared.get()
        let config = installation.root.appendingPathComponent("config")
        let own = config.appendingPathComponent("vmtest/profiles/debian12-armhf.yaml")
        try FileManager.default.createDirectory(at: own.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: own)
        try FileManager.default.copyItem(
            at: installation.prefix.appendingPathComponent("share/vmtest/profiles/debian12-armhf.yaml"), to: own)
        let list = try await Self.installed(["profiles", "list"], environment: ["XDG_CONFIG_HOME": config.path])
        #expect(list.status == 0)
        let debian = try #require(list.output.split(separator: "\n").first { $0.hasPrefix("debian12-armhf\t") })
        #expect(debian.hasSuffix("\t\(own.path)\t(shadows shipped \(installation.prefix.path)/share/vmtest/profiles/debian12-armhf.yaml)"))
        #expect(!list.output.split(separator: "\n").first { $0.hasPrefix("centos7-armhfp\t") }!.contains("shadows"))
    }

    /// The complaint that started it: the bare binary copied elsewhere listed nothing and
    /// exited 0. Now it says where it looked, and exits 2.
    @Test func aCopiedBinaryWithoutItsShareFolderSaysWhereItLooked() async throws {
        let installation = try await Installation.shared.get()
        let lonely = installation.root.appendingPathComponent("lonely/bin")
        try FileManager.default.createDirectory(at: lonely, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(at: lonely.appendingPathComponent("vmtest"))
        try FileManager.default.copyItem(
            at: installation.prefix.appendingPathComponent("bin/vmtest"), to: lonely.appendingPathComponent("vmtest"))
        let list = try await Shell.run(
            lonely.appendingPathComponent("vmtest").path, ["profiles", "list"], environment: Self.cleanEnvironment,
            in: installation.elsewhere)
        #expect(list.status == ExitStatus.badInput)
        #expect(list.output.isEmpty)
        #expect(list.error.contains("no profiles found; looked in:"))
        #expect(list.error.contains("\(installation.root.path)/lonely/share/vmtest/profiles (installed, absent)"))
        #expect(list.error.contains("/etc/vmtest/profiles (system configuration"))
    }

    @Test func runsTheExamplePackageInARealGuest() async throws {
        let installation = try await Installation.shared.get()
        let rpm = try #require(try await RunTests.examplePackages()["vmtest-hello"])
        let results = installation.root.appendingPathComponent("results")
        let run = try await Self.installed(["run", "debian12-armhf", "--rpm", rpm, "--results", results.path])
        #expect(run.status == 0, "\(run.error.suffix(3000))")
        let summary = try RunTests.summary(in: results)
        #expect(summary.verdict == "passed")
        #expect(summary.tests.contains { $0.name == "install" && $0.verdict == "passed" })
        #expect(summary.tests.first { $0.name == "vmtest-hello/hello.test" }?.verdict == "passed")
    }

    @Test func manRendersTheInstalledPage() async throws {
        let installation = try await Installation.shared.get()
        let man = try await Shell.run(
            "/usr/bin/man", ["vmtest"],
            environment: [
                "HOME": Self.cleanEnvironment["HOME"]!, "MANPATH": installation.prefix.appendingPathComponent("share/man").path,
                "MANWIDTH": "100", "MANPAGER": "cat", "PAGER": "cat", "PATH": "/usr/bin:/bin",
            ],
            in: installation.elsewhere)
        #expect(man.status == 0, "\(man.error)")
        let text = man.output.replacingOccurrences(of: "\u{8}.", with: "", options: .regularExpression)
        #expect(text.contains("NAME"))
        // groff's mdoc dash is `--` in an ASCII locale, an en dash in a UTF-8 one.
        #expect(
            text.range(of: "vmtest (--|–|-) Test packages inside throw-away 32-bit Arm virtual machines", options: .regularExpression)
                != nil, "\(text.prefix(400))")
        for subcommand in ["run", "nightly", "boot", "image", "profiles", "clean", "workarounds", "doctor"] {
            #expect(
                text.range(of: "\n {5}\(subcommand)( |\n)", options: .regularExpression) != nil,
                "the page has no entry for `vmtest \(subcommand)`")
        }
        #expect(text.contains("List the profiles, each with its file"))
    }

    @Test func bashCompletesSubcommandsAndProfileNames() async throws {
        let installation = try await Installation.shared.get()
        let script = installation.prefix.appendingPathComponent("share/bash-completion/completions/vmtest").path
        /// What bash offers for `line` (completing its last word), as a shell with the
        /// installed completion loaded and the installed vmtest on PATH would.
        func complete(_ line: String) async throws -> [String] {
            let result = try await Shell.run(
                "/bin/bash",
                [
                    "-c",
                    """
                    source "$1"
                    read -ra COMP_WORDS <<< "$2"
                    [[ "$2" == *" " ]] && COMP_WORDS+=("")
                    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMP_LINE="$2"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
                    _vmtest vmtest "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
                    printf '%s\\n' "${COMPREPLY[@]}"
                    """, "complete", script, line,
                ],
                environment: Self.cleanEnvironment.merging([
                    "PATH": installation.prefix.appendingPathComponent("bin").path + ":/usr/bin:/bin"
                ]) { $1 },
                in: installation.elsewhere)
            #expect(result.status == 0, "\(result.error)")
            return result.output.split(separator: "\n").map(String.init)
        }
        let subcommands = try await complete("vmtest ")
        for subcommand in ["run", "nightly", "boot", "image", "profiles", "clean", "workarounds", "doctor"] {
            #expect(subcommands.contains(subcommand), "`vmtest <TAB>` offers \(subcommands)")
        }
        #expect(try await complete("vmtest run debian12-armhf-") == ["debian12-armhf-uboot"])
        #expect(try await complete("vmtest run deb") == ["debian12-arm64", "debian12-armhf", "debian12-armhf-uboot"])
        #expect(
            try await complete("vmtest profiles show ") == ["centos7-armhfp", "debian12-arm64", "debian12-armhf", "debian12-armhf-uboot"])
        #expect(try await complete("vmtest image build c") == ["centos7-armhfp"])
    }

    @Test func theDebInstallsWithDpkgAndItsDoctorWorks() async throws {
        let deb = try await Installation.shared.get().deb
        let fields = try await Shell.run("/usr/bin/dpkg-deb", ["-f", deb.path, "Depends", "Architecture", "Version"])
        #expect(fields.status == 0)
        #expect(fields.output.contains("Version: \(VersionReport.vmtest)-1"))
        let depends = try #require(fields.output.split(separator: "\n").first { $0.hasPrefix("Depends: ") }).dropFirst("Depends: ".count)
        // The first of each alternative, without versions: what apt-get installs.
        let packages = depends.split(separator: ",").map {
            $0.split(separator: "|")[0].split(separator: "(")[0].trimmingCharacters(in: .whitespaces)
        }
        for needed in ["libvirt0", "libvirt-daemon-driver-qemu", "qemu-system-arm", "qemu-utils", "xorriso", "openssh-client"] {
            #expect(packages.contains(needed), "Depends lacks \(needed): \(depends)")
        }
        let apt = try await Shell.run(
            "/usr/bin/apt-get", ["install", "-y", "-qq", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=300"] + packages,
            environment: ["DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
        #expect(apt.status == 0, "\(apt.error)")
        let install = try await Shell.run("/usr/bin/dpkg", ["-i", deb.path], environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"])
        #expect(install.status == 0, "\(install.error)")
        defer {
            _ = try? Shell.runBlocking(
                "/usr/bin/dpkg", ["--purge", "vmtest"], environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], in: nil)
        }

        let files = try await Shell.run("/usr/bin/dpkg", ["-L", "vmtest"])
        for path in [
            "/usr/bin/vmtest", "/usr/share/vmtest/profiles/debian12-armhf.yaml", "/usr/share/man/man1/vmtest.1.gz",
            "/usr/share/bash-completion/completions/vmtest", "/usr/share/zsh/vendor-completions/_vmtest",
        ] {
            #expect(files.output.split(separator: "\n").contains(Substring(path)), "the .deb lacks \(path)")
        }
        let doctor = try await Shell.run(
            "/usr/bin/vmtest", ["doctor"], environment: Self.cleanEnvironment, in: try await Installation.shared.get().elsewhere)
        #expect(doctor.status == 0, "\(doctor.output)\(doctor.error)")
        #expect(doctor.output.contains("qemu-system-arm"))
        let list = try await Shell.run(
            "/usr/bin/vmtest", ["profiles", "list"], environment: Self.cleanEnvironment, in: try await Installation.shared.get().elsewhere)
        #expect(list.output.contains("\t/usr/share/vmtest/profiles/debian12-armhf.yaml"), "\(list.output)\(list.error)")
    }

    @Test func theRPMsFilesAndDependenciesAreRight() async throws {
        let rpm = try await Installation.shared.get().rpm
        let files = try await Shell.run("/usr/bin/rpm", ["-qpl", rpm.path])
        #expect(files.status == 0, "\(files.error)")
        let listed = Set(files.output.split(separator: "\n").map(String.init))
        for path in [
            "/usr/bin/vmtest", "/usr/share/vmtest/profiles/debian12-armhf.yaml", "/usr/share/vmtest/profiles/centos7-armhfp.yaml",
            "/usr/share/vmtest/plans/example.yaml", "/usr/share/vmtest/cloud-init/user-data", "/usr/share/vmtest/images/debian12/init",
            "/usr/share/bash-completion/completions/vmtest", "/usr/share/zsh/site-functions/_vmtest",
            "/usr/share/fish/vendor_completions.d/vmtest.fish",
        ] {
            #expect(listed.contains(path), "the .rpm lacks \(path)")
        }
        #expect(listed.contains { $0.hasPrefix("/usr/share/man/man1/vmtest.1") })
        #expect(!listed.contains { $0.hasPrefix("/usr/lib/debug") || $0.contains(".build") })

        let requires = try await Shell.run("/usr/bin/rpm", ["-qpR", rpm.path])
        #expect(requires.status == 0)
        let names = Set(requires.output.split(separator: "\n").map { String($0.split(separator: " ")[0]) })
        for needed in ["libvirt-libs", "libvirt-daemon-driver-qemu", "qemu-system-arm", "qemu-img", "xorriso", "openssh-clients"] {
            #expect(names.contains(needed), "Requires lacks \(needed): \(names.sorted())")
        }
        #expect(names.contains { $0.hasPrefix("libvirt.so.0") }, "no ELF dependency on libvirt: \(names.sorted())")
        // The image recipe's guest scripts (#!/bin/busybox sh) and Debian's curl symbol
        // version are no requirement of the host.
        #expect(!names.contains("/bin/busybox"))
        #expect(!requires.output.contains("CURL_OPENSSL"))
        // Debian's names would leave the package uninstallable on Fedora and RHEL.
        for debianOnly in ["qemu-utils", "openssh-client", "libvirt0", "xz-utils"] {
            #expect(!names.contains(debianOnly), "Requires names the Debian package \(debianOnly)")
        }
        let arch = try await Shell.run("/usr/bin/rpm", ["-qp", "--qf", "%{ARCH}", rpm.path])
        #expect(arch.output == HostMachine.current().architecture)
    }
}

/// script/install and script/package, once for the whole suite (the release build is the
/// expensive part), from a copy of the repository's tracked files (no `.build`, no built
/// examples, no Package.resolved), which is then deleted: the installed vmtest must not
/// need the tree it was built from.
actor Installation {
    static let shared = Installation()

    struct Made: Sendable {
        /// Everything lives under here.
        var root: URL
        var prefix: URL
        /// An empty folder that is not the source tree, where the installed vmtest runs.
        var elsewhere: URL
        var deb: URL
        var rpm: URL
    }

    private var made: Task<Made, any Error>?

    func get() async throws -> Made {
        if let made { return try await made.value }
        let task = Task { try await Self.make() }
        made = task
        return try await task.value
    }

    /// swift build's folder: `$VMTEST_RELEASE_SCRATCH`, else the repository's
    /// `.build-release`; dependencies built there once are not built again.
    static var scratch: URL {
        ProcessInfo.processInfo.environment["VMTEST_RELEASE_SCRATCH"].map { URL(fileURLWithPath: $0) }
            ?? EndToEnd.repository.appendingPathComponent(".build-release")
    }

    private static func make() async throws -> Made {
        // One folder, emptied first: each run leaves a 60 MB binary and two packages behind.
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-install-tests")
        try? FileManager.default.removeItem(at: root)
        let clone = root.appendingPathComponent("clone")
        let prefix = root.appendingPathComponent("prefix")
        let elsewhere = root.appendingPathComponent("elsewhere")
        let dist = root.appendingPathComponent("dist")
        for folder in [clone, elsewhere, dist] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }

        try await step(
            "copy the tracked files", "/bin/bash",
            [
                "-c", #"git -C "$1" ls-files -z | (cd "$1" && tar --null -T - -cf -) | tar -xf - -C "$2""#, "copy",
                EndToEnd.repository.path, clone.path,
            ])
        try await step(
            "script/install", clone.appendingPathComponent("script/install").path,
            ["--prefix", prefix.path, "--scratch-path", scratch.path])
        let deb = try await step(
            "script/package deb", clone.appendingPathComponent("script/package").path,
            ["deb", "--output", dist.path, "--scratch-path", scratch.path])
        let rpm = try await step(
            "script/package rpm", clone.appendingPathComponent("script/package").path,
            ["rpm", "--output", dist.path, "--scratch-path", scratch.path])
        try FileManager.default.removeItem(at: clone)
        return Made(
            root: root, prefix: prefix, elsewhere: elsewhere,
            deb: URL(fileURLWithPath: deb.trimmingCharacters(in: .whitespacesAndNewlines)),
            rpm: URL(fileURLWithPath: rpm.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    /// Runs one step, prints how long it took, and throws with its error output's tail when it fails.
    @discardableResult
    private static func step(_ name: String, _ executable: String, _ arguments: [String]) async throws -> String {
        let start = ContinuousClock.now
        let result = try await Shell.run(executable, arguments)
        print("InstallTests: \(name) took \(String(format: "%.1f", (ContinuousClock.now - start).seconds)) s")
        guard result.status == 0 else {
            throw RunInputError(subject: name, problem: "exited \(result.status):\n\(result.error.suffix(4000))", fix: "run it by hand")
        }
        return result.output
    }
}

/// Runs a program off Swift's cooperative pool (see ``EndToEnd/vmtest(_:environment:interruptAfter:)``),
/// with its own environment and folder, collecting both outputs.
enum Shell {
    struct Outcome: Sendable {
        var status: Int32
        var output: String
        var error: String
    }

    /// - Parameter environment: the whole environment; nil inherits this process's.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, in folder: URL? = nil) async throws
        -> Outcome
    {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result { try runBlocking(executable, arguments, environment: environment, in: folder) })
            }.start()
        }
    }

    static func runBlocking(_ executable: String, _ arguments: [String], environment: [String: String]?, in folder: URL?) throws -> Outcome
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let folder { process.currentDirectoryURL = folder }
        // Standard error to a file: a pipe nobody reads while standard output is drained
        // fills up and stalls a chatty build.
        let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-shell-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errorFile) }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: errorFile)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let error = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
        return Outcome(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self), error: error)
    }
}
