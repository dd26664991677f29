import Foundation
import Libvirt
import Synchronization

/// A run's disks, boot files and console log on a hypervisor that cannot open this
/// machine's files (``FileSharing/separate``): volumes in vmtest's pool there, reached
/// through libvirt alone.
///
/// The base image and the boot files are shared by every run on the hypervisor and
/// uploaded once (``BaseVolumes``); the overlay, the seed and payload disks and the
/// console log are the run's own, named after it (``prefix(runID:)``) and deleted with
/// it (``remove()``), or by `vmtest clean --connect` after a crash.
final class RunVolumes: Sendable {
    let storage: HypervisorStorage
    let runID: String
    private let reporter: any Reporter
    private let state = Mutex(State())

    private struct State {
        /// The run's own volumes, deleted with it.
        var own: [StorageVolume] = []
        /// This machine's path of every file staged, and its path on the hypervisor.
        var staged: [String: String] = [:]
        /// The hypervisor's console log, and where it is downloaded to here.
        var consoleLog: (volume: StorageVolume, local: URL)?
    }

    init(storage: HypervisorStorage, runID: String, reporter: any Reporter) {
        self.storage = storage
        self.runID = runID
        self.reporter = reporter
    }

    /// What every volume of the run is named after: how `vmtest clean` knows them.
    static func prefix(runID: String) -> String { "run-\(runID)-" }

    /// The empty volume that names the run's owner (this process, on this host), made
    /// before any other: a run whose owner is dead is a leftover, which only the owner's
    /// host can tell (``LeftoverReaper``).
    static func ownerMark(runID: String, pid: Int32, host: String) -> String {
        prefix(runID: runID) + "owner-\(pid)@\(markedHost(host))"
    }

    /// A host name as an owner mark holds it: what a volume name may hold.
    static func markedHost(_ host: String) -> String {
        String(host.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "_" })
    }

    /// The owner's PID and host from a volume named by ``ownerMark(runID:pid:host:)``.
    static func owner(inMark name: String) -> (runID: String, pid: Int32, host: String)? {
        guard let match = name.wholeMatch(of: /run-(.+)-owner-([0-9]+)@(.+)/), let pid = Int32(match.2) else { return nil }
        return (String(match.1), pid, String(match.3))
    }

    /// `definition` with every file it names on this machine replaced by a volume on the
    /// hypervisor: the overlay made there over the uploaded base image, the kernel,
    /// initramfs or firmware and each read-only disk uploaded, and an empty console log.
    /// A file staged before (a definition decided again) is not staged twice.
    func stage(_ definition: DomainDefinition, image: BaseImage) async throws -> DomainDefinition {
        var staged = try await stageBootFilesAndConsoleLog(definition)
        for (index, disk) in definition.disks.enumerated() {
            switch disk.kind {
            case .qcow2Overlay:
                staged.disks[index].path = try await once(disk.path) {
                    let (base, _) = try await BaseVolumes(storage: self.storage).base(
                        sha256: image.diskSHA256, file: URL(fileURLWithPath: image.disk), reporter: self.reporter)
                    return try await self.overlay(named: Self.prefix(runID: self.runID) + "overlay.qcow2", over: base).path()
                }
            case .readOnlyImage, .payload:
                staged.disks[index].path = try await once(disk.path) {
                    let file = URL(fileURLWithPath: disk.path)
                    return try await self.upload(file, as: Self.prefix(runID: self.runID) + "disk\(index)-\(file.lastPathComponent)").path()
                }
            }
        }
        return staged
    }

    /// `definition` with its kernel, initramfs or firmware and its console log staged,
    /// and its disks as they are: already the hypervisor's (a saved guest's).
    func stageBootFilesAndConsoleLog(_ definition: DomainDefinition) async throws -> DomainDefinition {
        var staged = definition
        _ = try await once("owner") {
            try await self.empty(Self.ownerMark(runID: self.runID, pid: getpid(), host: ProcessInfo.processInfo.hostName)).name
        }
        switch definition.boot {
        case .directKernel(let kernel, let initrd, let commandLine):
            staged.boot = .directKernel(
                kernel: try await bootFile(kernel), initrd: try await initrd.asyncMap(bootFile), commandLine: commandLine)
        case .firmware(let path):
            staged.boot = .firmware(path: try await bootFile(path))
        }
        staged.consoleLog = try await once(definition.consoleLog) {
            let volume = try await self.empty(Self.prefix(runID: self.runID) + "console.log")
            self.state.withLock { $0.consoleLog = (volume, URL(fileURLWithPath: definition.consoleLog)) }
            return try await volume.path()
        }
        return staged
    }

    /// Makes the run's console log on the hypervisor hold `content` and nothing else (a
    /// restored guest's log begins with the boot before its save), at the same path.
    func startConsoleLog(with content: Data) async throws {
        guard let log = state.withLock({ $0.consoleLog }) else { return }
        try await log.volume.delete()
        state.withLock { $0.own.removeAll { $0 === log.volume } }
        let volume = try await empty(log.volume.name)
        state.withLock { $0.consoleLog = (volume, log.local) }
        try await volume.write([UInt8](content), at: 0)
    }

    /// A qcow2 volume of the run's own over `backing`, which it reads and never writes.
    func overlay(named name: String, over backing: StorageVolume) async throws -> StorageVolume {
        let volume = try await storage.pool.createVolume(
            xml: BaseVolumes.volumeXML(
                name: name, bytes: Int64(try await backing.sizes().capacity), format: "qcow2", backingStore: try await backing.path()))
        state.withLock { $0.own.append(volume) }
        return volume
    }

    /// An empty raw volume of the run's own: its owner mark, the console log QEMU fills,
    /// a disk that reads as zeros (`bytes` long, taking no room until written).
    func empty(_ name: String, bytes: UInt64 = 0) async throws -> StorageVolume {
        let volume = try await storage.pool.createVolume(
            xml: BaseVolumes.volumeXML(name: name, bytes: Int64(bytes), allocation: 0, format: "raw"))
        state.withLock { $0.own.append(volume) }
        return volume
    }

    /// A raw volume of the run's own holding `file`, at least `bytes` long (the rest
    /// reads as zeros).
    func upload(_ file: URL, as name: String, bytes: UInt64 = 0) async throws -> StorageVolume {
        let (volume, _) = try await storage.upload(file, as: name, format: "raw", capacity: Int64(bytes), reporter: reporter)
        state.withLock { $0.own.append(volume) }
        return volume
    }

    /// Stops counting the volumes named with `prefix` as the run's own: they outlive it
    /// (a saved guest, once published).
    func disown(prefix: String) {
        state.withLock { $0.own.removeAll { $0.name.hasPrefix(prefix) } }
    }

    /// Downloads the console log QEMU wrote on the hypervisor to where the run keeps it
    /// here. Again after a reboot or at the end: each download holds the whole log.
    func downloadConsoleLog() async {
        guard let log = state.withLock({ $0.consoleLog }), storage.pool.connection.isAlive else { return }
        do {
            try FileManager.default.createDirectory(at: log.local.deletingLastPathComponent(), withIntermediateDirectories: true)
            _ = try await log.volume.download(to: log.local)
        } catch {
            reporter.note("could not download the console log \(log.volume.name) from the hypervisor: \(error)")
        }
    }

    /// Deletes the run's own volumes; the shared base and boot files stay for later runs.
    func remove() async {
        let own = state.withLock { state in
            defer { state = State() }
            return state.own
        }
        for volume in own.reversed() {
            do {
                try await volume.delete()
            } catch {
                reporter.note("could not delete volume \(volume.name) on the hypervisor: \(error)")
            }
        }
    }

    /// The hypervisor's path for `local`, staged by `make` the first time.
    private func once(_ local: String, _ make: () async throws -> String) async throws -> String {
        if let known = state.withLock({ $0.staged[local] }) { return known }
        let path = try await make()
        state.withLock { $0.staged[local] = path }
        return path
    }

    /// A kernel, initramfs or firmware image, shared by its SHA-256.
    private func bootFile(_ path: String) async throws -> String {
        try await once(path) {
            let file = URL(fileURLWithPath: path)
            let (volume, _) = try await BaseVolumes(storage: storage).bootFile(
                sha256: try await SHA256Sum.of(file: file), file: file, reporter: reporter)
            return try await volume.path()
        }
    }
}

extension Optional {
    fileprivate func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
