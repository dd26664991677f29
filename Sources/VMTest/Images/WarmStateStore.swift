import Foundation

/// A booted guest saved at the moment it was ready, and the frozen disk layer that
/// belongs to it: what a warm start restores instead of booting.
public struct WarmState: Sendable, Hashable, Codable {
    public var key: String
    /// Where the state's files are: a folder here, or vmtest's pool on a hypervisor
    /// that cannot open this machine's files (``PoolWarmStates``).
    public var directory: String
    /// In a pool, which holds no folders, what the state's files are named after
    /// (`warm-KEY-TOKEN-`); nil in a folder of its own.
    public var volumePrefix: String?
    /// Everything that shaped the state; a different value anywhere is a different key.
    public var inputs: WarmStateInputs
    public var bakeSeconds: Double
    public var saveSeconds: Double
    public var bakedAt: Date

    var stateFile: URL { file("state.save") }
    /// The guest's disk writes up to the save, read-only now: each run overlays it.
    var frozenDisk: URL { file("frozen.qcow2") }
    /// The cloud-init seed the guest booted with, without any run's key.
    var seed: URL { file("seed.iso") }
    /// What the guest wrote to its serial console up to the save.
    var bootConsoleLog: URL { file("console.log") }
    /// The empty disk that stands in for a run's payload (see ``WarmState/payloadSlotBytes``).
    var payloadSlot: URL { file("payload-slot.img") }

    private func file(_ name: String) -> URL {
        URL(fileURLWithPath: directory).appendingPathComponent((volumePrefix ?? "") + name)
    }

    /// The saved guest has one read-only disk for payloads, whatever a run brings: a
    /// restored guest keeps the hardware it was saved with, so a run's payload image
    /// is padded (sparsely) to this size and takes the slot's place.
    static let payloadSlotBytes: UInt64 = 4 << 30
}

/// What a saved state depends on. Encoded into the key and kept in the manifest, so
/// a person can see why a state is (not) reused.
public struct WarmStateInputs: Sendable, Hashable, Codable {
    /// The profile as loaded (canonical JSON).
    public var profile: String
    public var baseImageSHA256: String
    /// For the embedded driver, the first line of `qemu-system-arm --version`; for a
    /// daemon, the QEMU version it reports.
    public var qemu: String
    /// The libvirt that saves and restores: this process's, or the daemon's.
    public var libvirt: String
    /// The hypervisor's URI, or `embedded`.
    public var hypervisor: String
    /// Under KVM the host's CPU (a guest saved on one core type may not restore on
    /// another); under TCG the guest's CPU is emulated and this is empty.
    public var hostCPU: String
    /// The domain XML with run-specific names, paths and ports blanked: accelerator,
    /// CPU model, memory, vCPUs, devices.
    public var domain: String
    /// The cloud-init seed's content without per-run values; empty without a seed.
    public var seed: String
    /// The command the guest ran before its save, after its boot (``WarmStarter/preparation``).
    public var preparation: String
    /// Raised whenever what vmtest does to a guest before saving it changes otherwise.
    public var revision: Int

    static let currentRevision = 3

    /// A short stable hash of all inputs.
    var key: String { StableHash.fnv1a((try? ManifestJSON.canonical.encode(self)) ?? Data()) }
}

/// Saved states of one base image, in its folder's `warm/` (so `vmtest image rm`
/// removes them with the image).
public struct WarmStateStore: Sendable {
    public let root: URL

    public init(image: BaseImage) {
        root = URL(fileURLWithPath: image.directory).appendingPathComponent("warm")
    }

    static let manifestName = "manifest.json"

    public func state(for key: String) -> WarmState? {
        let manifest = root.appendingPathComponent(key).appendingPathComponent(Self.manifestName)
        guard let data = try? Data(contentsOf: manifest) else { return nil }
        return try? ManifestJSON.decoder.decode(WarmState.self, from: data)
    }

    public func list() -> [WarmState] {
        let keys = (try? FileManager.default.contentsOfDirectory(atPath: root.path))?.sorted() ?? []
        return keys.filter { !$0.hasPrefix(".") }.compactMap(state(for:))
    }

    /// Deletes a state that failed to restore, so the next run saves a new one.
    public func remove(_ key: String) {
        try? FileManager.default.removeItem(at: root.appendingPathComponent(key))
    }

    /// How long a state is kept that no run saved or restored. A nightly restores its
    /// states every night; a state left alone for two weeks was superseded (another QEMU,
    /// libvirt, vmtest, profile or image saves under another key) or belongs to a profile
    /// no longer run, and it holds its guest's memory on disk (174 MiB for a 1 GiB guest).
    static let unusedLifetime: TimeInterval = 14 * 86_400

    /// Notes that a run restores `state` now. A state's folder's modification time says
    /// when it was last saved or restored: the one date ``pruneUnused(keeping:now:)`` reads.
    func markRestored(_ state: WarmState, now: Date = Date()) {
        try? FileManager.default.setAttributes([.modificationDate: now], ofItemAtPath: state.directory)
    }

    /// Removes every state not saved or restored within ``unusedLifetime`` before `now`,
    /// except `keeping` (the state just saved); returns what it removed. A run that reads a
    /// state's manifest just before its removal fails to restore it and boots cold.
    func pruneUnused(keeping: String, now: Date = Date()) -> [PrunedState] {
        let keys = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        var pruned: [PrunedState] = []
        for key in keys.sorted() where !key.hasPrefix(".") && key != keeping {
            let folder = root.appendingPathComponent(key)
            guard let used = (try? FileManager.default.attributesOfItem(atPath: folder.path))?[.modificationDate] as? Date,
                now.timeIntervalSince(used) > Self.unusedLifetime
            else { continue }
            let bytes = DiskUsage.allocatedBytes(under: folder)
            guard (try? FileManager.default.removeItem(at: folder)) != nil else { continue }
            pruned.append(PrunedState(key: key, bytes: bytes))
        }
        return pruned
    }

    /// A folder to save a new state in; ``publish(_:from:)`` moves it into place.
    /// Folders left by dead processes are removed first.
    func scratch() throws -> URL {
        // One process may save several states at once (parallel runs of a night).
        try ScratchFolder.make(in: root, prefix: ".saving")
    }

    /// Makes the saved files read-only and moves them into place. When another process
    /// saved the same state meanwhile, theirs is kept and this one dropped.
    func publish(_ state: WarmState, from scratch: URL) throws -> WarmState {
        var state = state
        let target = root.appendingPathComponent(state.key)
        for file in [state.frozenDisk, state.payloadSlot] { _ = chmod(scratch.appendingPathComponent(file.lastPathComponent).path, 0o444) }
        _ = chmod(scratch.appendingPathComponent(state.stateFile.lastPathComponent).path, 0o400)
        state.directory = target.path
        try ManifestJSON.encoder.encode(state).write(to: scratch.appendingPathComponent(Self.manifestName))
        do {
            try FileManager.default.moveItem(at: scratch, to: target)
        } catch {
            try? FileManager.default.removeItem(at: scratch)
            guard let theirs = self.state(for: state.key) else { throw error }
            return theirs
        }
        return state
    }
}

/// A saved state ``WarmStateStore/pruneUnused(keeping:now:)`` removed.
struct PrunedState: Sendable, Hashable {
    var key: String
    /// The disk space it took (allocated, not apparent: its payload slot is sparse).
    var bytes: UInt64
}
