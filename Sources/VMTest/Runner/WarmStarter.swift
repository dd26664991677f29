import Foundation
import Libvirt
import Synchronization

/// Restores guests from saved states, saving one first when none fits.
///
/// A saved state is the guest's memory at the moment it was ready plus the disk layer it
/// had written by then, frozen. Each run restores it onto its own overlay of that layer
/// under its own name and UUID, so runs never share a writable disk and can run side by
/// side. The guest keeps the virtual hardware it was saved with, which is why a run's
/// disks are fitted into the saved layout (``WarmState/payloadSlotBytes``).
struct WarmStarter {
    let reporter: any Reporter
    /// The run's guest as planned: profile, image, hypervisor and its host (a saved KVM
    /// guest restores only onto the same kind of core), run directory.
    let plan: GuestPlan
    let options: LaunchOptions
    /// The run's own domain, as a cold boot would create it.
    let definition: DomainDefinition
    let phases: PhaseRecorder

    var profile: Profile { plan.profile }
    var image: BaseImage { plan.image }
    var hypervisor: Hypervisor { plan.placement.hypervisor }
    var host: HostMachine { plan.placement.host }
    var runDirectory: URL { plan.runDirectory }
    /// nil: this process's embedded driver.
    var connectURI: String? { hypervisor.requestedURI }

    enum Plan {
        case restore(WarmState)
        case save(WarmStateInputs)
        case unavailable(reason: String)
    }

    /// Restores the run's guest, saving a state first when none fits. Nil, after a
    /// note saying why, when the run must boot cold.
    func start(readyTimeout: Duration) async throws -> (Domain, DomainDefinition, key: String)? {
        let state: WarmState
        switch await plan() {
        case .restore(let saved):
            state = saved
        case .save(let inputs):
            reporter.note("no saved state of \(profile.name) fits this run: booting it once to save one (later runs restore it)")
            do {
                state = try await save(inputs, readyTimeout: readyTimeout)
            } catch let error as LibvirtError where error.function == "virDomainSaveFlags" {
                reporter.note("saving the guest failed; booting cold: \(error)")
                return nil
            }
        case .unavailable(let reason):
            reporter.note("booting cold: \(reason)")
            return nil
        }
        do {
            let (domain, restored) = try await restore(state)
            return (domain, restored, state.key)
        } catch {
            // A state this host cannot restore is no use to the next run either.
            WarmStateStore(image: image).remove(state.key)
            reporter.note("restoring saved state \(state.key) failed, so it was deleted; booting cold: \(error)")
            try? FileManager.default.removeItem(at: runDirectory.appendingPathComponent("overlay.qcow2"))
            return nil
        }
    }

    /// Whether this run can start warm, and from which state.
    func plan() async -> Plan {
        if hypervisor.fileSharing == .separate {
            return .unavailable(reason: "saved states live on this machine, and \(hypervisor.uri) cannot open its files")
        }
        if options.seed != nil, options.warmSeed == nil {
            return .unavailable(reason: "the run's cloud-init seed has no reusable form to save a guest with")
        }
        if options.extraDisks.count > 1 {
            return .unavailable(reason: "a saved guest has one payload disk and this run brings \(options.extraDisks.count)")
        }
        if let payload = options.extraDisks.first {
            let size = (try? FileManager.default.attributesOfItem(atPath: payload.path)[.size] as? UInt64) ?? 0
            if size > WarmState.payloadSlotBytes {
                return .unavailable(reason: "the payload (\(size >> 20) MiB) is larger than a saved guest's payload disk")
            }
        }
        let qemu: String
        do {
            qemu = try await Self.emulatorVersion(definition.accelerator.emulator)
        } catch {
            return .unavailable(reason: "cannot tell QEMU's version (\(error))")
        }
        let libvirt = (try? Connection.libraryVersion().description) ?? "unknown"
        let inputs = WarmStateInputs(
            profile: Self.canonicalJSON(profile), baseImageSHA256: image.diskSHA256, qemu: qemu, libvirt: libvirt,
            hypervisor: connectURI ?? "embedded",
            hostCPU: definition.accelerator.accelerator == .kvm ? host.cpu : "",
            domain: DomainXML.render(Self.shape(of: definition, seeded: options.warmSeed != nil)),
            seed: options.warmSeed?.identity ?? "", revision: WarmStateInputs.currentRevision)
        if let state = WarmStateStore(image: image).state(for: inputs.key) { return .restore(state) }
        return .save(inputs)
    }

    /// Boots the guest cold to ready, without any run's secrets, and saves it.
    func save(_ inputs: WarmStateInputs, readyTimeout: Duration) async throws -> WarmState {
        let store = WarmStateStore(image: image)
        let scratch = try store.scratch()
        var domain: Domain?
        do {
            let started = ContinuousClock.now
            let frozen = scratch.appendingPathComponent("frozen.qcow2")
            try await Overlay.create(at: frozen, over: image.disk)
            let slot = scratch.appendingPathComponent("payload-slot.img")
            try Self.makeSparse(slot, size: WarmState.payloadSlotBytes)
            let seed = try await options.warmSeed?.write(scratch)
            var saving = definition.withWarmDisks(disk: frozen.path, seed: seed?.path, payload: slot.path)
            // The run's own log: on failure the launcher shows its tail; saved, it is kept with the state.
            saving.consoleLog = definition.consoleLog
            domain = try await GuestLauncher.create(
                saving, on: hypervisor, phases: phases,
                detail:
                    "starting \(saving.name) to save it once ready (\(saving.accelerator.accelerator.rawValue), \(saving.cpus) vCPU, \(saving.memoryMiB) MiB)"
            )
            let console = try await GuestConsole.open(on: domain!, saving)
            do {
                try await phases.timed("ready", "waiting for a shell on \(profile.console.device.rawValue)") {
                    try await console.shell.waitUntilReady(
                        login: profile.console.loginMethod, typingSafeAfter: profile.consoleTypingSafeAfter, timeout: readyTimeout)
                }
                if seed != nil {
                    try await phases.timed("cloud-init", "waiting for cloud-init to finish before saving") {
                        _ = try await CloudInitReadiness.wait(on: console.shell, timeout: .seconds(600))
                    }
                }
                // The ISO 9660 driver a run's payload disk needs is loaded once here, not
                // by every restored run (modprobe took 1.8 s of a warm run under TCG).
                // Then everything the guest buffered reaches the frozen layer: its memory
                // and its disk agree whatever the host's cache does.
                _ = try await console.shell.run("modprobe -q isofs 2>/dev/null; sync", timeout: .seconds(120))
            } catch {
                await console.close()
                throw error
            }
            await console.close()
            let saveStarted = ContinuousClock.now
            let stateFile = scratch.appendingPathComponent("state.save")
            try await phases.timed("save", "saving the ready guest for later runs") {
                let saved = domain!
                try await saved.save(to: stateFile)
            }
            domain = nil
            try? FileManager.default.copyItem(atPath: saving.consoleLog, toPath: scratch.appendingPathComponent("console.log").path)
            let state = WarmState(
                key: inputs.key, directory: scratch.path, inputs: inputs,
                bakeSeconds: (ContinuousClock.now - started).seconds, saveSeconds: (ContinuousClock.now - saveStarted).seconds,
                bakedAt: Date())
            return try store.publish(state, from: scratch)
        } catch {
            if let domain { _ = try? await domain.destroyIfRunning() }
            try? FileManager.default.removeItem(at: scratch)
            throw error
        }
    }

    /// Restores `state` as this run's guest: its own copy of the state under the run's
    /// name, its own overlay. Returns the domain and the definition it runs with.
    func restore(_ state: WarmState) async throws -> (Domain, DomainDefinition) {
        let overlay = runDirectory.appendingPathComponent("overlay.qcow2")
        try await Overlay.create(at: overlay, over: state.frozenDisk.path)
        var payload = state.payloadSlot
        if let extra = options.extraDisks.first {
            try Self.pad(extra, to: WarmState.payloadSlotBytes)
            payload = extra
        }
        var definition = definition.withWarmDisks(
            disk: overlay.path, seed: options.warmSeed == nil ? nil : state.seed.path, payload: payload.path)
        definition.uuid = UUID()
        // The log holds the guest's whole serial output: the boot before the save, then this run.
        let bootLog = (try? Data(contentsOf: state.bootConsoleLog)) ?? Data()
        try (bootLog + Data("\n[vmtest: restored from saved state \(state.key) at \(Date().formatted(.iso8601))]\n".utf8))
            .write(to: URL(fileURLWithPath: definition.consoleLog))
        definition.appendsToConsoleLog = true
        let restored = definition
        let copy = runDirectory.appendingPathComponent("state.save")
        defer { try? FileManager.default.removeItem(at: copy) }
        let domain = try await phases.timed(
            "restore",
            "restoring \(restored.name) (\(restored.accelerator.accelerator.rawValue), \(restored.cpus) vCPU, \(restored.memoryMiB) MiB) from saved state \(state.key)"
        ) {
            try await SavedStateFile.copy(state.stateFile, to: copy, name: restored.name, uuid: restored.uuid!)
            try await hypervisor.connection.restoreDomain(from: copy, xml: DomainXML.render(restored), flags: .paused)
            guard let domain = try await hypervisor.connection.domain(uuid: restored.uuid!) else {
                throw WarmStartError(description: "the restored guest \(restored.name) stopped at once")
            }
            return domain
        }
        return (domain, restored)
    }

    /// Brings a restored guest up to date: its clock (stopped at the save), its random
    /// number generator (every restore would otherwise draw the same numbers), and
    /// the block cache of the payload disk (the slot it saw was empty).
    static func refreshCommand(now: Date, entropy: [UInt8], payload: Bool) -> String {
        let seconds = String(format: "%.3f", now.timeIntervalSince1970)
        // printf is a shell builtin (octal escapes: dash has no \x): no process needed.
        let bytes = entropy.map { String(format: "\\%03o", $0) }.joined()
        var steps = [
            "date -u -s @\(seconds) >/dev/null",
            "printf '\(bytes)' >/dev/urandom",
            // RNDRESEEDCRNG: reseed from the pool just mixed into now, not within a minute.
            "{ perl -e 'open(my $f, \">\", \"/dev/urandom\") or die; ioctl($f, 0x5207, 0) or die' 2>/dev/null || true; }",
        ]
        if payload {
            // Drop what the guest cached of the empty slot; the root file system stays.
            steps.append(
                "mounts=$(cat /proc/mounts); for d in /dev/vd?; do case \"$mounts\" in *\"$d \"*) ;; *) blockdev --flushbufs \"$d\" ;; esac; done"
            )
        }
        return (steps + ["true"]).joined(separator: "; ")
    }

    /// The domain as saved, with run-specific names, paths and ports blanked.
    static func shape(of definition: DomainDefinition, seeded: Bool) -> DomainDefinition {
        var shape = definition.withWarmDisks(disk: "@disk", seed: seeded ? "@seed" : nil, payload: "@payload")
        shape.name = "vmtest-saved"
        shape.uuid = nil
        shape.run = .init(id: "saved", profile: definition.run.profile, ownerPID: 0, host: "")
        shape.consoleLog = "@console-log"
        if shape.sshForwardPort != nil { shape.sshForwardPort = 22 }
        return shape
    }

    /// The host CPU's identity from /proc/cpuinfo: implementer and part on Arm, the
    /// model name elsewhere.
    static func hostCPU(cpuinfo: String = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "") -> String {
        let wanted = ["CPU implementer", "CPU architecture", "CPU variant", "CPU part", "model name"]
        var found: [String] = []
        for line in cpuinfo.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2, wanted.contains(parts[0]), !found.contains("\(parts[0])=\(parts[1])") {
                found.append("\(parts[0])=\(parts[1])")
            }
            if line.isEmpty { break }
        }
        return found.joined(separator: ",")
    }

    static func canonicalJSON(_ profile: Profile) -> String {
        String(decoding: (try? ManifestJSON.canonical.encode(profile)) ?? Data(), as: UTF8.self)
    }

    private static let versions = Mutex<[String: String]>([:])

    /// `qemu-system-arm --version`'s first line, asked once per process.
    static func emulatorVersion(_ emulator: String) async throws -> String {
        if let known = versions.withLock({ $0[emulator] }) { return known }
        let output = try await ExternalTool.emulator(emulator).run(["--version"])
        let line = String(output.split(separator: "\n").first ?? "")
        versions.withLock { $0[emulator] = line }
        return line
    }

    static func makeSparse(_ file: URL, size: UInt64) throws {
        guard FileManager.default.createFile(atPath: file.path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: file.path])
        }
        try pad(file, to: size)
    }

    /// Grows `file` to `size` bytes without writing them (a hole).
    static func pad(_ file: URL, to size: UInt64) throws {
        let handle = try FileHandle(forWritingTo: file)
        defer { try? handle.close() }
        if try handle.seekToEnd() < size { try handle.truncate(atOffset: size) }
    }
}
