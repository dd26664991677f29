import Foundation
import Testing

@testable import VMTest

/// cloud-init seed files against golden files (`VMTEST_UPDATE_GOLDEN=1 swift test`
/// rewrites them; review the diff), the ISO they become, keys, ports and status parsing.
@Suite struct CloudInitSeedTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden/cloud-init")
    static let templates = repository.appendingPathComponent("cloud-init")

    static func seed() throws -> CloudInitSeed {
        CloudInitSeed(
            instanceID: "vmtest-20261121-120000-abc", hostname: "debian12-armhf",
            authorizedKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOr4cK8Vf2K7vXh0vV0N2w2y8bqfGZ2xF4PzJb3L3m5w vmtest-20261121-120000-abc",
            templates: try CloudInitTemplates.load(from: templates))
    }

    @Test(arguments: CloudInitTemplates.fileNames)
    func matchesGoldenFile(_ name: String) throws {
        let rendered = try #require(try Self.seed().render()[name])
        let file = Self.golden.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["VMTEST_UPDATE_GOLDEN"] != nil {
            try FileManager.default.createDirectory(at: Self.golden, withIntermediateDirectories: true)
            try rendered.write(to: file, atomically: true, encoding: .utf8)
        }
        #expect(rendered == (try String(contentsOf: file, encoding: .utf8)))
    }

    @Test func userDataCarriesWhatTheGuestNeeds() throws {
        let userData = try Self.seed().renderUserData()
        #expect(userData.hasPrefix("#cloud-config\n"))
        for line in [
            "disable_root: false", "ssh_genkeytypes: [ed25519]", "ssh_deletekeys: true", "locale: C.UTF-8",
            "  - \"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOr4cK8Vf2K7vXh0vV0N2w2y8bqfGZ2xF4PzJb3L3m5w vmtest-20261121-120000-abc\"",
        ] {
            #expect(userData.split(separator: "\n").contains(Substring(line)), "missing line: \(line)")
        }
    }

    @Test(arguments: [
        ("plain", "\"plain\""),
        ("with \"quotes\" and \\", "\"with \\\"quotes\\\" and \\\\\""),
        ("key: value # not a comment", "\"key: value # not a comment\""),
        ("line\nbreak", "\"line\\nbreak\""),
    ])
    func valuesAreQuotedSoTheyCannotChangeTheDocument(_ value: String, _ expected: String) {
        #expect(CloudInitSeed.yamlQuoted(value) == expected)
    }

    @Test(arguments: [
        ("debian12-armhf", "debian12-armhf"),
        ("CentOS_7.armhfp", "centos-7-armhfp"),
        ("--x--", "x"),
        ("", "vmtest"),
        (String(repeating: "a", count: 80), String(repeating: "a", count: 63)),
    ])
    func hostnamesAreValidLabels(_ text: String, _ expected: String) {
        #expect(CloudInitSeed.hostname(from: text) == expected)
    }

    @Test func unknownPlaceholderIsAnErrorNamingIt() {
        #expect {
            _ = try CloudInitTemplates.fill("a: {{instnace_id}}\n", named: "meta-data", with: ["instance_id": "x"])
        } throws: { error in
            "\(error)".contains("unknown placeholder {{instnace_id}}") && "\(error)".contains("{{instance_id}}")
        }
    }

    @Test func userDataWithoutTheCloudConfigLineIsRefused() throws {
        var seed = try Self.seed()
        seed.templates.userData = "disable_root: false\n"
        #expect(throws: ProvisioningError.self) { try seed.renderUserData() }
    }

    @Test func templatesDirectoryIsTheSourceTreesFromAnyOtherFolder() {
        let search = DataSearchPath(
            environment: ["HOME": "/nonexistent"], workingDirectory: URL(fileURLWithPath: "/"),
            executable: URL(fileURLWithPath: "/nonexistent/bin/vmtest"), systemConfiguration: URL(fileURLWithPath: "/nonexistent/etc"))
        let found = CloudInitTemplates.standardDirectory(search: search)
        #expect(found.standardizedFileURL == Self.repository.appendingPathComponent("cloud-init").standardizedFileURL)
    }

    // MARK: The ISO

    @Test func seedImageHasLabelCidataAndTheThreeFiles() async throws {
        try #require(ExternalTool.xorriso.path != nil, "xorriso is not installed")
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let image = try await Self.seed().write(to: directory)
        #expect(image.lastPathComponent == "seed.iso")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("seed").path), "staging directory left behind")

        let listing = try await ExternalTool.xorriso.run(["-indev", image.path, "-pvd_info", "-ls", "/"])
        let log = listing
        #expect(log.contains("Volume Id    : cidata"), "\(log)")
        for name in CloudInitTemplates.fileNames {
            #expect(log.contains("'\(name)'"), "\(name) missing from:\n\(log)")
        }
        // And the bytes inside are the rendered ones.
        let extracted = directory.appendingPathComponent("user-data.out")
        try await ExternalTool.xorriso.run(["-osirrox", "on", "-indev", image.path, "-extract", "/user-data", extracted.path])
        #expect(try String(contentsOf: extracted, encoding: .utf8) == (try Self.seed().renderUserData()))
    }

    // MARK: Keys and ports

    @Test func keyPairIsEd25519WithAPrivateFileOnlyItsOwnerCanRead() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let pair = try await SSHKeyPair.generate(in: directory, comment: "vmtest-test")
        let mode = try FileManager.default.attributesOfItem(atPath: pair.privateKey.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(pair.publicKey.hasPrefix("ssh-ed25519 AAAA"))
        #expect(pair.publicKey.hasSuffix(" vmtest-test"))
        #expect(HostKeyPin.parse(pair.publicKey) != nil)
        let again = try await SSHKeyPair.generate(in: directory, comment: "vmtest-test")
        #expect(again.publicKey != pair.publicKey, "each run gets a fresh key")
    }

    @Test func portAllocatorHandsOutDistinctFreePortsWhileReserved() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let allocator = PortAllocator(lockDirectory: directory)
        // Each port is looked at as soon as it is reserved: the suites beside this one
        // open connections from ephemeral ports, and one took a reserved port between the
        // last reservation and a check of all twenty (the main batch of a CI run).
        let reservations = try (0..<20).map { _ in
            let reservation = try allocator.reserve()
            #expect((1024...65535).contains(reservation.port) && PortAllocator.isFree(reservation.port), "port \(reservation.port)")
            return reservation
        }
        let ports = Set(reservations.map(\.port))
        #expect(ports.count == reservations.count)
        for reservation in reservations { reservation.release() }
    }

    @Test func aReservedPortIsNotHandedOutAgain() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let held = try PortAllocator(lockDirectory: directory).reserve()
        defer { held.release() }
        // Another allocator (as another process would) cannot lock the same file:
        // flock locks belong to the open file description, not the process.
        let descriptor = open(directory.appendingPathComponent("\(held.port).lock").path, O_RDWR)
        defer { close(descriptor) }
        #expect(flock(descriptor, LOCK_EX | LOCK_NB) != 0)
        held.release()
        // Released: the file is gone, so a process that opened it before cannot keep
        // a stale lock on it.
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("\(held.port).lock").path))
        #expect(flock(descriptor, LOCK_EX | LOCK_NB) == 0)
        #expect(!PortAllocator.isStillNamed(directory.appendingPathComponent("\(held.port).lock"), by: descriptor))
    }

    // MARK: cloud-init status

    @Test func parsesStatusOfCloudInit22() throws {
        let done = try #require(
            CloudInitStatus.parse(
                "........\nstatus: done\nboot_status_code: enabled-by-generator\nlast_update: Sat, 21 Nov 2026 20:50:14 +0000\ndetail:\nDataSourceNoCloud [seed=/dev/vdb][dsmode=net]\n"
            ))
        #expect(done.isDone && !done.usedNoDatasource)
        #expect(done.detail == "DataSourceNoCloud [seed=/dev/vdb][dsmode=net]")

        let none = try #require(CloudInitStatus.parse("status: done\nboot_status_code: enabled-by-generator\ndetail:\nDataSourceNone\n"))
        #expect(none.isDone && none.usedNoDatasource)

        let error = try #require(
            CloudInitStatus.parse(
                "...status: error\nboot_status_code: enabled-by-generator\ndetail:\n('locale', ProcessExecutionError('Unexpected error while running command.'))\n"
            ))
        #expect(error.status == "error")
        #expect(error.detail.contains("locale"))
    }

    @Test func parsesStatusOfNewerCloudInit() throws {
        let status = try #require(
            CloudInitStatus.parse(
                """
                status: error
                extended_status: error - done
                boot_status_code: enabled-by-generator
                detail: DataSourceNoCloud [seed=/dev/vdb]
                errors:
                \t- ('locale', ProcessExecutionError("Unexpected error"))
                recoverable_errors: {}
                """))
        #expect(status.status == "error")
        #expect(status.detail == "DataSourceNoCloud [seed=/dev/vdb]")
        #expect(status.errors == ["('locale', ProcessExecutionError(\"Unexpected error\"))"])
        #expect(CloudInitStatus.parse("cloud-init: command not found") == nil)
    }

    func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-seed-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }
}

/// Waiting for cloud-init, against a real shell on a pty with a fake `cloud-init`.
@Suite(.serialized) struct CloudInitReadinessTests {
    /// A shell whose `cloud-init status` prints `statusOutput` and exits `status`.
    static func shell(statusOutput: String, status: Int, log: String) async throws -> (GuestShell, PseudoTerminalShell, URL) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-cloud-init-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try log.write(to: directory.appendingPathComponent("cloud-init.log"), atomically: true, encoding: .utf8)
        let (shell, terminal) = try await PseudoTerminalShell.readyShell(
            standIns: ["cloud-init": "printf '%s' '\(statusOutput)'\nexit \(status)"], in: directory)
        return (shell, terminal, directory)
    }

    @Test func doneWithTheSeedIsReady() async throws {
        let (shell, terminal, directory) = try await Self.shell(
            statusOutput: "....\nstatus: done\ndetail:\nDataSourceNoCloud [seed=/dev/vdb][dsmode=net]\n", status: 0, log: "")
        defer {
            terminal.terminate()
            try? FileManager.default.removeItem(at: directory)
        }
        let status = try await CloudInitReadiness.wait(
            on: shell, timeout: .seconds(60), logFile: directory.appendingPathComponent("cloud-init.log").path)
        #expect(status.isDone)
    }

    @Test func errorStatusThrowsWithTheLogsWarnings() async throws {
        let log = """
            2026-11-21 20:58:20,100 - util.py[DEBUG]: Running module locale
            2026-11-21 20:58:20,339 - util.py[WARNING]: Running module locale failed
            2026-11-21 20:58:20,340 - util.py[DEBUG]: Reading from /proc/uptime
            """
        let (shell, terminal, directory) = try await Self.shell(
            statusOutput: "status: error\ndetail:\n(locale, ProcessExecutionError)\n", status: 1, log: log)
        defer {
            terminal.terminate()
            try? FileManager.default.removeItem(at: directory)
        }
        await #expect {
            try await CloudInitReadiness.wait(
                on: shell, timeout: .seconds(60), logFile: directory.appendingPathComponent("cloud-init.log").path)
        } throws: { error in
            let text = "\(error)"
            return error is ProvisioningError && text.contains("status 'error'") && text.contains("Running module locale failed")
        }
    }

    @Test func noSeedFoundIsAnErrorNamingTheLabel() async throws {
        let (shell, terminal, directory) = try await Self.shell(statusOutput: "status: done\ndetail:\nDataSourceNone\n", status: 0, log: "")
        defer {
            terminal.terminate()
            try? FileManager.default.removeItem(at: directory)
        }
        await #expect {
            try await CloudInitReadiness.wait(
                on: shell, timeout: .seconds(60), logFile: directory.appendingPathComponent("cloud-init.log").path)
        } throws: { error in
            "\(error)".contains("did not find the run's NoCloud seed") && "\(error)".contains("cidata")
        }
    }
}

@Suite struct CloudInitAdditionsTests {
    static let templates = CloudInitTemplates(
        metaData: "instance-id: {{instance_id}}\n",
        userData: "#cloud-config\nlocale: C.UTF-8\nssh_authorized_keys:\n  - {{ssh_authorized_key}}\n",
        networkConfig: "version: 2\n")

    @Test func theProfilesKeysFollowTheTemplates() throws {
        let seed = CloudInitSeed(
            instanceID: "i", hostname: "h", authorizedKey: "ssh-ed25519 AAAA k", templates: Self.templates,
            additionalUserData: "runcmd:\n  - [touch, /run/from-profile]\n")
        let userData = try seed.renderUserData()
        #expect(userData.hasPrefix("#cloud-config\n"))
        #expect(userData.hasSuffix("runcmd:\n  - [touch, /run/from-profile]\n"))
        #expect(userData.contains("ssh_authorized_keys"))
    }

    @Test func aKeyTheTemplateSetsIsRefused() {
        let seed = CloudInitSeed(
            instanceID: "i", hostname: "h", authorizedKey: "k", templates: Self.templates, additionalUserData: "locale: de_DE.UTF-8\n")
        #expect {
            try seed.renderUserData()
        } throws: { error in
            "\(error)".contains("sets 'locale'")
        }
    }

    @Test func aProfileWhoseAdditionIsNotAMappingIsRejected() {
        let yaml = ProfileLoaderTests.valid + "\ncloudInitUserData: just words\n"
        #expect {
            try ProfileLoader.parse(yaml: yaml, name: "p", file: "p.yaml")
        } throws: { error in
            "\(error)".contains("not a mapping of cloud-config keys") && "\(error)".contains("line 24")
        }
    }
}
