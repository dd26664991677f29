import Foundation
import Libvirt
import Testing

@testable import VMTest

/// What decides whether a saved state fits a run, and what a restored guest is told.
@Suite struct WarmStartTests {
    static func definition(runID: String, port: Int? = 40000, memory: Int? = nil, host: HostMachine = DomainXMLTests.x86) throws
        -> DomainDefinition
    {
        var profile = try ProfileLoaderTests.catalog.load("debian12-armhf")
        if let memory { profile.memory = memory }
        let launcher = GuestLauncher(directories: Directories(cache: URL(fileURLWithPath: "/cache"), state: URL(fileURLWithPath: "/state")))
        var definition = launcher.definition(
            for: profile, mode: try AcceleratorChoice.choose(for: profile.arch, on: host), image: DomainXMLTests.image, runID: runID,
            runDirectory: URL(fileURLWithPath: "/state/runs/\(runID)"),
            seed: URL(fileURLWithPath: "/state/runs/\(runID)/seed.iso"))
        definition.sshForwardPort = port
        return definition
    }

    @Test func runsDifferingOnlyInNamesPathsAndPortsShareAShape() throws {
        let first = try Self.definition(runID: "A", port: 40000)
        var second = try Self.definition(runID: "B", port: 40001)
        second.disks.append(.init(kind: .payload, path: "/tmp/payload.tar"))
        second.consoleLog = "/results/console.log"
        second.uuid = UUID()
        #expect(
            DomainXML.render(WarmStarter.shape(of: first, seeded: true)) == DomainXML.render(WarmStarter.shape(of: second, seeded: true)))
    }

    @Test func memoryCPUAcceleratorNetworkAndSeedChangeTheShape() throws {
        func shape(_ definition: DomainDefinition, seeded: Bool = true) -> String {
            DomainXML.render(WarmStarter.shape(of: definition, seeded: seeded))
        }
        let base = shape(try Self.definition(runID: "A"))
        #expect(shape(try Self.definition(runID: "A", memory: 768)) != base)
        #expect(
            shape(try Self.definition(runID: "A", host: DomainXMLTests.cortexA72)) != base, "KVM with host-passthrough is another machine")
        #expect(shape(try Self.definition(runID: "A", port: nil)) != base, "no network device")
        #expect(shape(try Self.definition(runID: "A"), seeded: false) != base)
        var pinned = try Self.definition(runID: "A")
        pinned.cpus = 1
        #expect(shape(pinned) != base)
    }

    @Test func theSavedLayoutIsDiskSeedAndPayloadSlot() throws {
        let definition = try Self.definition(runID: "A").withWarmDisks(disk: "/o.qcow2", seed: "/seed.iso", payload: "/slot.img")
        #expect(
            definition.disks == [
                .init(kind: .qcow2Overlay, path: "/o.qcow2"), .init(kind: .readOnlyImage, path: "/seed.iso"),
                .init(kind: .payload, path: "/slot.img"),
            ])
        #expect(try Self.definition(runID: "A").withWarmDisks(disk: "/o", seed: nil, payload: "/s").disks.count == 2)
    }

    static let inputs = WarmStateInputs(
        profile: "{}", baseImageSHA256: "92c6", qemu: "QEMU emulator version 7.2.22", libvirt: "9.0.0", hypervisor: "embedded",
        hostCPU: "", domain: "<domain/>", seed: "", preparation: "sync", revision: WarmStateInputs.currentRevision)

    @Test func everyInputIsPartOfTheKey() throws {
        let readBack = try ManifestJSON.decoder.decode(WarmStateInputs.self, from: ManifestJSON.encoder.encode(Self.inputs))
        #expect(
            readBack.key == Self.inputs.key, "the key depends on the values only: the same inputs read back from a manifest find the state")
        let changes: [(inout WarmStateInputs) -> Void] = [
            { $0.profile = "{\"cpus\":1}" }, { $0.baseImageSHA256 = "ffff" }, { $0.qemu = "QEMU emulator version 8.0.0" },
            { $0.libvirt = "9.1.0" }, { $0.hypervisor = "qemu:///system" }, { $0.hostCPU = "CPU implementer=0x41,CPU part=0xd08" },
            { $0.domain = "<domain type='kvm'/>" },
            { $0.seed = "user-data" }, { $0.revision += 1 },
        ]
        for change in changes {
            var changed = Self.inputs
            change(&changed)
            #expect(changed.key != Self.inputs.key)
        }
    }

    @Test func refreshSetsTheClockAndMixesEntropy() {
        let now = Date(timeIntervalSince1970: 1_763_770_000.25)
        let command = WarmStarter.refreshCommand(now: now, entropy: [0, 7, 255])
        #expect(command.contains("date -u -s @1763770000.250"))
        #expect(command.contains("printf '\\000\\007\\377' >/dev/urandom"), "octal escapes: dash's printf has no \\x")
        #expect(command.contains("ioctl($f, \(LinuxRandomDevice.reseedRequest), 0)"), "RNDRESEEDCRNG, from the header")
        #expect(!command.contains("flushbufs"), "the save flushed the payload slot")
        #expect(WarmStarter.preparation.contains(PayloadDisk.flushCommand))
    }

    @Test func theRefreshCommandIsValidPOSIXShell() async throws {
        let command = WarmStarter.refreshCommand(now: Date(), entropy: (0..<64).map { UInt8($0 * 4) })
        // -n parses without running: the host's clock and block devices stay untouched.
        let checked = try await GuestSetUpTests.dash.run(["-n", "-c", command])
        #expect(checked.isEmpty)
    }

    /// The settle command against a stand-in `systemctl`: degraded counts as settled, a
    /// boot still running past the limit does not.
    @Test(arguments: [("exit 0", true), ("exit 1", true), ("exec sleep 30", false)])
    func theSettleSucceedsOnceSystemdIsDoneAndFailsAfterItsLimit(_ systemctl: String, _ settles: Bool) async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("settle-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let fake = folder.appendingPathComponent("systemctl")
        try "#!/bin/sh\n\(systemctl)\n".write(to: fake, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: fake.path)
        let started = ContinuousClock.now
        let finished = try await GuestSetUpTests.dash.finish(
            ["-c", WarmStarter.settleCommand(limitSeconds: 1)],
            environment: ["PATH": "\(folder.path):/usr/bin:/bin"])
        #expect(finished.succeeded == settles)
        #expect(ContinuousClock.now - started < .seconds(20), "the limit stopped a boot that does not finish")
    }

    /// A guest too slow to end the wait by itself (its `timeout` never fires) is not
    /// settled once it has not answered in time, and its shell takes the next command: the
    /// run saves it as it is instead of failing.
    @Test func aGuestThatDoesNotAnswerTheSettleInTimeIsNotSettled() async throws {
        let folder = try GuestSetUpTests.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let (shell, terminal) = try await PseudoTerminalShell.readyShell(
            standIns: ["systemctl": "exec sleep 30", "timeout": "shift; exec \"$@\""], in: folder)
        defer { terminal.terminate() }

        let started = ContinuousClock.now
        #expect(try await !WarmStarter.settle(shell, limit: .seconds(1), answerWithin: .seconds(3)))
        #expect(ContinuousClock.now - started < .seconds(20))
        #expect(try await shell.run("echo next", timeout: .seconds(20)).standardOutput == "next\n")
    }

    @Test func aKVMStateIsTiedToTheHostCoreType() {
        let a72 =
            "processor\t: 0\nBogoMIPS\t: 250.00\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\n\nprocessor\t: 1\nCPU part\t: 0xd08\n"
        #expect(WarmStarter.hostCPU(cpuinfo: a72) == "CPU implementer=0x41,CPU architecture=8,CPU variant=0x0,CPU part=0xd08")
        #expect(WarmStarter.hostCPU(cpuinfo: "processor\t: 0\nmodel name\t: AMD EPYC 7B13\n") == "model name=AMD EPYC 7B13")
    }

    @Test(arguments: [
        ("qemu:///system", true), ("qemu:///embed?root=/tmp/x", true), ("qemu+ssh://localhost/system", true),
        ("qemu+tcp://127.0.0.1/system", true), ("qemu+ssh://builder1/system", false),
    ])
    func onlyHypervisorsThatSeeThisMachinesFilesRestore(_ uri: String, _ local: Bool) {
        #expect(Hypervisor.isOnThisMachine(uri) == local)
    }

    @Test func theSeedsIdentityLeavesOutTheRunsKeyAndInstance() throws {
        let templates = try CloudInitTemplates.load(from: CloudInitSeedTests.templates)
        let first = Provisioner.warmSeed(
            like: CloudInitSeed(
                instanceID: "vmtest-A", hostname: "debian12-armhf", authorizedKey: "ssh-ed25519 AAAA a", templates: templates))
        let second = Provisioner.warmSeed(
            like: CloudInitSeed(
                instanceID: "vmtest-B", hostname: "debian12-armhf", authorizedKey: "ssh-ed25519 BBBB b", templates: templates))
        #expect(first.identity == second.identity)
        #expect(!first.identity.contains("AAAA"))
        let other = Provisioner.warmSeed(
            like: CloudInitSeed(
                instanceID: "vmtest-A", hostname: "debian12-armhf", authorizedKey: "k", templates: templates,
                additionalUserData: "packages: [curl]"))
        #expect(other.identity != first.identity)
    }

    /// The saved states of the test image, as if it lived in `directory`.
    static func store(in directory: URL) -> WarmStateStore {
        var image = DomainXMLTests.image
        image.directory = directory.path
        return WarmStateStore(image: image)
    }

    @Test func aPublishedStateIsReadOnlyListedAndRemovable() throws {
        let directory = try GuestSetUpTests.folder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = Self.store(in: directory)
        let scratch = try store.scratch()
        #expect(try store.scratch() != scratch, "two saves in one process get folders of their own")
        let dead = store.root.appendingPathComponent(".saving-999999-deadbeef")
        try FileManager.default.createDirectory(at: dead, withIntermediateDirectories: true)
        _ = try store.scratch()
        #expect(!FileManager.default.fileExists(atPath: dead.path), "a dead process's folder is removed")
        #expect(FileManager.default.fileExists(atPath: scratch.path), "a live one's is kept")
        for name in ["frozen.qcow2", "payload-slot.img", "state.save"] {
            try Data("x".utf8).write(to: scratch.appendingPathComponent(name))
        }
        let state = WarmState(
            key: Self.inputs.key, directory: scratch.path, inputs: Self.inputs, bakeSeconds: 30, saveSeconds: 2, bakedAt: Date())
        let published = try store.publish(state, from: scratch)
        #expect(published.directory == store.root.appendingPathComponent(Self.inputs.key).path)
        #expect(!FileManager.default.fileExists(atPath: scratch.path))
        let mode = { (name: String) in
            try FileManager.default.attributesOfItem(atPath: published.directory + "/" + name)[.posixPermissions] as? Int
        }
        #expect(try mode("frozen.qcow2") == 0o444)
        #expect(try mode("state.save") == 0o400)
        #expect(store.state(for: Self.inputs.key)?.inputs == Self.inputs)
        #expect(store.list().map(\.key) == [Self.inputs.key])
        store.remove(Self.inputs.key)
        #expect(store.list().isEmpty)
    }

    /// A state no run saved or restored for two weeks is removed when another is saved;
    /// a restore counts as a use, and the state just saved and scratch folders are left.
    @Test func statesUnusedForTwoWeeksArePruned() throws {
        let directory = try GuestSetUpTests.folder()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = Self.store(in: directory)
        let now = Date()
        let day: TimeInterval = 86_400
        let ages: [(String, TimeInterval)] = [
            ("stale", 15 * day), ("recent", 13 * day), ("restored", 20 * day), ("just-saved", 30 * day), (".saving-1-cafe", 30 * day),
        ]
        for (key, age) in ages {
            let folder = store.root.appendingPathComponent(key)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try Data(repeating: 7, count: 64 << 10).write(to: folder.appendingPathComponent("state.save"))
            try FileManager.default.setAttributes([.modificationDate: now - age], ofItemAtPath: folder.path)
        }
        let restored = WarmState(
            key: "restored", directory: store.root.appendingPathComponent("restored").path, inputs: Self.inputs,
            bakeSeconds: 30, saveSeconds: 2, bakedAt: now - 20 * day)
        store.markRestored(restored, now: now - day)

        let pruned = store.pruneUnused(keeping: "just-saved", now: now)
        #expect(pruned.map(\.key) == ["stale"])
        #expect(pruned.first.map { $0.bytes >= 64 << 10 } == true, "the space it took, as du counts it")
        let left = try FileManager.default.contentsOfDirectory(atPath: store.root.path).sorted()
        #expect(left == [".saving-1-cafe", "just-saved", "recent", "restored"])
    }
}
