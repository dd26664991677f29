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
    /// On a hypervisor that cannot open this machine's files, the run's volumes there:
    /// saved states then live in its pool (``PoolWarmStates``), not in the image's folder.
    let volumes: RunVolumes?
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
            if let volumes {
                await PoolWarmStates(storage: volumes.storage).remove(state)
                // The cold boot stages the run's volumes afresh.
                await volumes.remove()
            } else {
                WarmStateStore(image: image).remove(state.key)
                try? FileManager.default.removeItem(at: runDirectory.appendingPathComponent("overlay.qcow2"))
            }
            reporter.note("restoring saved state \(state.key) failed, so it was deleted; booting cold: \(error)")
            return nil
        }
    }

    /// Whether this run can start warm, and from which state.
    func plan() async -> Plan {
        if options.seed != nil, options.warmSeed == nil {
            return .unavailable(reason: "the run's cloud-init seed has no reusable form to save a guest with")
        }
        if let payload = options.payload {
            let size = (try? FileManager.default.attributesOfItem(atPath: payload.path)[.size] as? UInt64) ?? 0
            if size > WarmState.payloadSlotBytes {
                return .unavailable(reason: "the payload (\(size >> 20) MiB) is larger than a saved guest's payload disk")
            }
        }
        let qemu: String
        let libvirt: String
        if connectURI == nil {
            do {
                qemu = try await Self.emulatorVersion(definition.accelerator.emulator)
            } catch {
                return .unavailable(reason: "cannot tell QEMU's version (\(error))")
            }
            libvirt = (try? Connection.libraryVersion().description) ?? "unknown"
        } else {
            // The daemon's QEMU and libvirt save and restore its guests, not this machine's
            // (which may have no QEMU at all). A daemon that does not tell its QEMU's version
            // still restores: a state its QEMU cannot read fails, is deleted and saved again.
            qemu = (try? await hypervisor.connection.hypervisorVersion()).map { "QEMU \($0)" } ?? "not told by the daemon"
            libvirt = (try? await hypervisor.connection.daemonLibraryVersion().description) ?? "not told by the daemon"
        }
        let inputs = WarmStateInputs(
            profile: Self.canonicalJSON(profile), baseImageSHA256: image.diskSHA256, qemu: qemu, libvirt: libvirt,
            hypervisor: connectURI ?? "embedded",
            hostCPU: definition.accelerator.accelerator == .kvm ? host.cpu : "",
            domain: DomainXML.render(Self.shape(of: definition, seeded: options.warmSeed != nil)),
            seed: options.warmSeed?.identity ?? "", preparation: Self.preparationScript,
            revision: WarmStateInputs.currentRevision)
        let saved =
            if let volumes {
                await PoolWarmStates(storage: volumes.storage).state(for: inputs.key)
            } else {
                WarmStateStore(image: image).state(for: inputs.key)
            }
        if let saved { return .restore(saved) }
        return .save(inputs)
    }

    /// Boots the guest cold to ready, without any run's secrets, and saves it.
    func save(_ inputs: WarmStateInputs, readyTimeout: Duration) async throws -> WarmState {
        if let volumes { return try await saveInPool(inputs, volumes: volumes, readyTimeout: readyTimeout) }
        let store = WarmStateStore(image: image)
        let scratch = try store.scratch()
        do {
            let started = ContinuousClock.now
            let frozen = scratch.appendingPathComponent("frozen.qcow2")
            try await Overlay.create(at: frozen, over: image.disk)
            let slot = scratch.appendingPathComponent("payload-slot.img")
            try Self.makeSparse(slot, size: WarmState.payloadSlotBytes)
            let seed = try await options.warmSeed?.write(scratch)
            let saving = definition.withWarmDisks(disk: frozen.path, seed: seed?.path, payload: slot.path)
            let saveSeconds = try await bootAndSave(
                saving, to: scratch.appendingPathComponent("state.save"), seeded: seed != nil, readyTimeout: readyTimeout)
            try? FileManager.default.copyItem(atPath: saving.consoleLog, toPath: scratch.appendingPathComponent("console.log").path)
            let state = WarmState(
                key: inputs.key, directory: scratch.path, inputs: inputs,
                bakeSeconds: (ContinuousClock.now - started).seconds, saveSeconds: saveSeconds, bakedAt: Date())
            let published = try store.publish(state, from: scratch)
            let pruned = store.pruneUnused(keeping: published.key)
            if !pruned.isEmpty {
                let mebibytes = pruned.reduce(0) { $0 + $1.bytes } >> 20
                reporter.note(
                    "removed \(pruned.count) saved guest state(s) of this image that no run had restored for"
                        + " \(Int(WarmStateStore.unusedLifetime / 86_400)) days (\(mebibytes) MiB): \(pruned.map(\.key).joined(separator: ", "))"
                )
            }
            return published
        } catch {
            try? FileManager.default.removeItem(at: scratch)
            throw error
        }
    }

    /// ``save(_:readyTimeout:)`` into vmtest's pool on the hypervisor: the frozen layer
    /// over the base volume there, the state file written there by libvirt. Until the
    /// state is published its volumes are the run's, deleted with it.
    private func saveInPool(_ inputs: WarmStateInputs, volumes: RunVolumes, readyTimeout: Duration) async throws -> WarmState {
        let started = ContinuousClock.now
        let prefix = PoolWarmStates.volumePrefix(key: inputs.key, token: plan.runID)
        let (base, _) = try await BaseVolumes(storage: volumes.storage).base(
            sha256: image.diskSHA256, file: URL(fileURLWithPath: image.disk), reporter: reporter)
        let frozen = try await volumes.overlay(named: prefix + "frozen.qcow2", over: base)
        let slot = try await volumes.empty(prefix + "payload-slot.img", bytes: WarmState.payloadSlotBytes)
        var seed: String?
        if let warmSeed = options.warmSeed {
            let folder = runDirectory.appendingPathComponent("warm-seed")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            seed = try await volumes.upload(try await warmSeed.write(folder), as: prefix + "seed.iso").path()
        }
        let saving = try await volumes.stageBootFilesAndConsoleLog(
            definition.withWarmDisks(disk: try await frozen.path(), seed: seed, payload: try await slot.path()))
        let stateFile = try await volumes.empty(prefix + "state.save")
        let saveSeconds = try await bootAndSave(
            saving, to: URL(fileURLWithPath: try await stateFile.path()), seeded: seed != nil, readyTimeout: readyTimeout)
        // libvirt wrote the state file by its path: the pool learns its size (what a copy
        // of it copies) on a refresh.
        try await volumes.storage.refresh()
        await volumes.downloadConsoleLog()
        _ = try await volumes.upload(URL(fileURLWithPath: definition.consoleLog), as: prefix + "console.log")
        let state = WarmState(
            key: inputs.key, directory: URL(fileURLWithPath: try await stateFile.path()).deletingLastPathComponent().path,
            volumePrefix: prefix, inputs: inputs,
            bakeSeconds: (ContinuousClock.now - started).seconds, saveSeconds: saveSeconds, bakedAt: Date())
        try await PoolWarmStates(storage: volumes.storage).publish(state, token: plan.runID)
        volumes.disown(prefix: prefix)
        return state
    }

    /// Boots `saving` cold, waits until it is ready (and its cloud-init done when
    /// `seeded`), and saves it into `stateFile`, which stops it. Returns the seconds the
    /// save took.
    private func bootAndSave(_ saving: DomainDefinition, to stateFile: URL, seeded: Bool, readyTimeout: Duration) async throws -> Double {
        let domain = try await GuestLauncher.create(
            saving, on: hypervisor, phases: phases,
            detail:
                "starting \(saving.name) to save it once ready (\(saving.accelerator.accelerator.rawValue), \(saving.cpus) vCPU, \(saving.memoryMiB) MiB)"
        )
        do {
            let console = try await GuestConsole.open(on: domain, saving)
            do {
                try await phases.timed("ready", "waiting for a shell on \(profile.console.device.rawValue)") {
                    try await console.shell.waitUntilReady(
                        login: profile.console.loginMethod, typingSafeAfter: profile.consoleTypingSafeAfter, timeout: readyTimeout)
                }
                if seeded {
                    try await phases.timed("cloud-init", "waiting for cloud-init to finish before saving") {
                        _ = try await CloudInitReadiness.wait(on: console.shell, timeout: .seconds(600))
                    }
                }
                // A restored guest carries on from the moment it was saved: saved at its
                // first shell, every run shared the CPU with the rest of its boot
                // (cloud-init's stages, logind, ssh: 27 start jobs, load 1.5 under TCG).
                // Degraded counts as settled; a guest without systemd has nothing to wait
                // for. The rest of a boot may take as long as its start to a shell was allowed
                // to (33 s under TCG here; more than 120 s with seven guests on two cores, and
                // more than 300 s nested in an emulated Arm host); one that does not finish in
                // that time is saved as it is.
                try await phases.timed("settle", "waiting for the guest's boot to finish before saving") {
                    if try await !Self.settle(console.shell, limit: readyTimeout, answerWithin: readyTimeout + .seconds(60)) {
                        reporter.note(
                            "the guest's boot had not finished after \(Int(readyTimeout.components.seconds)) s: saved as it was, so restored runs share its CPU with the rest of the boot"
                        )
                    }
                }
                if let warmUp = profile.warmUp {
                    try await phases.timed("warm-up", "the profile's warmUp before saving: \(warmUp)") {
                        let warmed = try await console.shell.run(warmUp, timeout: readyTimeout)
                        guard warmed.succeeded else { throw GuestStepError(step: "the profile's warmUp (\(warmUp))", result: warmed) }
                    }
                }
                let prepared = try await console.shell.run(Self.preparationScript, timeout: .seconds(120))
                guard prepared.succeeded else { throw GuestStepError(step: "preparing the guest to be saved", result: prepared) }
            } catch {
                await console.close()
                throw error
            }
            await console.close()
            let saveStarted = ContinuousClock.now
            try await phases.timed("save", "saving the ready guest for later runs") {
                try await domain.save(to: stateFile)
            }
            return (ContinuousClock.now - saveStarted).seconds
        } catch {
            _ = try? await domain.destroyIfRunning()
            throw error
        }
    }

    /// What a guest is given before its save, after its boot: what every run's guest
    /// needs (``GuestSetUp/common``); the payload slot dropped from its block cache, where
    /// a run's payload takes the slot's place (``PayloadDisk``); then everything the guest
    /// buffered written to the frozen layer, so its memory and its disk agree whatever the
    /// host's cache does. Part of the saved state's key.
    static let preparation = GuestSetUp.common + [PayloadDisk.flushCommand, "sync"]
    /// ``preparation`` as the guest runs it, and as the state's key holds it.
    static let preparationScript = GuestSetUp.script(preparation)

    /// Restores `state` as this run's guest: its own copy of the state under the run's
    /// name, its own overlay. Returns the domain and the definition it runs with.
    func restore(_ state: WarmState) async throws -> (Domain, DomainDefinition) {
        if let volumes { return try await restoreInPool(state, volumes: volumes) }
        WarmStateStore(image: image).markRestored(state)
        let overlay = runDirectory.appendingPathComponent("overlay.qcow2")
        try await Overlay.create(at: overlay, over: state.frozenDisk.path)
        var payload = state.payloadSlot
        if let extra = options.payload {
            try Self.pad(extra, to: WarmState.payloadSlotBytes)
            payload = extra
        }
        var definition = definition.withWarmDisks(
            disk: overlay.path, seed: options.warmSeed == nil ? nil : state.seed.path, payload: payload.path)
        definition.uuid = UUID()
        // The log holds the guest's whole serial output: the boot before the save, then this run.
        let bootLog = (try? Data(contentsOf: state.bootConsoleLog)) ?? Data()
        try (bootLog + Self.restoredMarker(state)).write(to: URL(fileURLWithPath: definition.consoleLog))
        definition.appendsToConsoleLog = true
        let restored = definition
        let renamed = runDirectory.appendingPathComponent("state.save")
        let restoreFromRenamed = { [hypervisor] in
            try await hypervisor.connection.restoreDomain(from: renamed, xml: DomainXML.render(restored), flags: .paused)
        }
        let domain = try await timedRestore(restored, from: state) {
            // A named pipe is this machine's own: a hypervisor elsewhere that mounts the
            // same files would wait for a writer there for ever, so it gets a copy.
            if Hypervisor.isOnThisMachine(hypervisor.uri) {
                try await SavedStatePipe.serving(state.stateFile, at: renamed, name: restored.name, uuid: restored.uuid!) {
                    try await restoreFromRenamed()
                }
            } else {
                defer { try? FileManager.default.removeItem(at: renamed) }
                try await SavedStateFile.copy(state.stateFile, to: renamed, name: restored.name, uuid: restored.uuid!)
                try await restoreFromRenamed()
            }
        }
        return (domain, restored)
    }

    /// ``restore(_:)`` from vmtest's pool on the hypervisor: the run's overlay over the
    /// frozen layer there, and its copy of the state file made there, so that only the
    /// run's payload and a few KiB of the state's header cross the connection.
    private func restoreInPool(_ state: WarmState, volumes: RunVolumes) async throws -> (Domain, DomainDefinition) {
        let pool = volumes.storage.pool
        let prefix = state.volumePrefix ?? ""
        guard let frozen = try await pool.volume(named: prefix + "frozen.qcow2"),
            let saved = try await pool.volume(named: prefix + "state.save")
        else { throw WarmStartError(description: "saved state \(state.key) has lost volumes in pool \(HypervisorStorage.name)") }
        let own = RunVolumes.prefix(runID: plan.runID)
        let overlay = try await volumes.overlay(named: own + "overlay.qcow2", over: frozen)
        var payload = state.payloadSlot.path
        if let extra = options.payload {
            payload = try await volumes.upload(extra, as: own + "payload.img", bytes: WarmState.payloadSlotBytes).path()
        }
        var definition = try await volumes.stageBootFilesAndConsoleLog(
            definition.withWarmDisks(
                disk: try await overlay.path(), seed: options.warmSeed == nil ? nil : state.seed.path, payload: payload))
        definition.uuid = UUID()
        let bootLog = (try? await pool.volume(named: prefix + "console.log")?.read()) ?? Data()
        try await volumes.startConsoleLog(with: bootLog + Self.restoredMarker(state))
        definition.appendsToConsoleLog = true
        let restored = definition
        let domain = try await timedRestore(restored, from: state) {
            let copy = try await SavedStateFile.clone(
                saved, in: pool, volumeXML: BaseVolumes.volumeXML(name: own + "state.save", bytes: 0, format: "raw"),
                name: restored.name, uuid: restored.uuid!)
            do {
                try await hypervisor.connection.restoreDomain(
                    from: URL(fileURLWithPath: try await copy.path()), xml: DomainXML.render(restored), flags: .paused)
            } catch {
                try? await copy.delete()
                throw error
            }
            try? await copy.delete()
        }
        return (domain, restored)
    }

    /// Runs `restore` (a copy of the state, restored paused as `restored`) as the run's
    /// restore phase, and returns the restored domain.
    private func timedRestore(
        _ restored: DomainDefinition, from state: WarmState, _ restore: () async throws -> Void
    ) async throws -> Domain {
        try await phases.timed(
            "restore",
            "restoring \(restored.name) (\(restored.accelerator.accelerator.rawValue), \(restored.cpus) vCPU, \(restored.memoryMiB) MiB) from saved state \(state.key)"
        ) {
            try await restore()
            guard let domain = try await hypervisor.connection.domain(uuid: restored.uuid!) else {
                throw WarmStartError(description: "the restored guest \(restored.name) stopped at once")
            }
            return domain
        }
    }

    /// What a restored guest's console log says between the boot before the save and the run.
    static func restoredMarker(_ state: WarmState) -> Data {
        Data("\n[vmtest: restored from saved state \(state.key) at \(UTCTimestamp(Date()).iso8601)]\n".utf8)
    }

    /// Waits at most `limit` for the guest's boot to finish; whether it did. A guest that
    /// has not answered within `answerWithin` counts as not settled, as one whose own
    /// `timeout` ended the wait does: the wait is a best effort, and failing the run there
    /// (as vmtest did, seen once nested in an emulated Arm host) left a slow guest unsaved.
    /// The shell interrupts the command (``GuestShell/run(_:timeout:)``) and takes the next;
    /// a guest that is broken rather than slow fails at the next step.
    static func settle(_ shell: GuestShell, limit: Duration, answerWithin: Duration) async throws -> Bool {
        do {
            return try await shell.run(settleCommand(limitSeconds: Int(limit.components.seconds)), timeout: answerWithin).succeeded
        } catch let error as GuestChannelError {
            guard case .commandTimedOut = error.kind else { throw error }
            return false
        }
    }

    /// Succeeds once systemd has no start job left, whatever the state it ends in; fails
    /// after `limitSeconds`.
    static func settleCommand(limitSeconds: Int) -> String {
        "timeout \(limitSeconds) systemctl is-system-running --wait >/dev/null 2>&1; [ $? != 124 ]"
    }

    /// Brings a restored guest up to date: its clock (stopped at the save) and its random
    /// number generator (every restore would otherwise draw the same numbers). A snippet
    /// of the guest's set-up (``GuestSetUp``), which waits for the reseed it leaves running.
    static func refreshCommand(now: Date, entropy: [UInt8]) -> String {
        let seconds = String(format: "%.3f", now.timeIntervalSince1970)
        // printf is a shell builtin: no process needed.
        let bytes = PrintfFormat.format(entropy)
        return [
            "printf '\(bytes)' >/dev/urandom",
            // RNDRESEEDCRNG: reseed from the pool just mixed into now, not within a minute.
            // Perl takes 0.2 s to start under TCG: it runs beside the rest of the set-up.
            "{ perl -e 'open(my $f, \">\", \"/dev/urandom\") or die; ioctl($f, \(LinuxRandomDevice.reseedRequest), 0) or die' 2>/dev/null || true; } &",
            "date -u -s @\(seconds) >/dev/null",
        ].joined(separator: "\n")
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
