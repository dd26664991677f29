import Foundation
import Libvirt

/// Finds what dead vmtest processes left behind and removes it.
///
/// A vmtest killed with SIGKILL (or a crashed machine's reboot) cannot tear its guests
/// down, and libvirt's embedded driver refuses `autodestroy`, so QEMU can outlive its
/// owner. Every run records its owner's PID (in the run directory and in the domain's
/// metadata); a run whose owner is gone is a leftover. Runs of live processes, including
/// another vmtest started at the same moment, are never touched.
public struct LeftoverReaper: Sendable {
    public var directories: Directories

    public init(directories: Directories) {
        self.directories = directories
    }

    public struct Reaped: Sendable, Hashable {
        public var runs: [String] = []
        public var killedProcesses: [Int32] = []
        public var embeddedRoots: [String] = []
        public var domains: [String] = []
        /// Volumes of dead runs on a hypervisor that does not share this machine's files.
        public var volumes: [String] = []
        public var isEmpty: Bool {
            runs.isEmpty && killedProcesses.isEmpty && embeddedRoots.isEmpty && domains.isEmpty && volumes.isEmpty
        }
    }

    /// Cleans the local state directory; with a connection, also destroys vmtest
    /// domains on it whose owner on this host is dead, and deletes those runs' volumes.
    public func reap(connectURI: String, includingKept: Bool = false) async throws -> Reaped {
        await reap(connection: try await Hypervisor.openDaemon(uri: connectURI), includingKept: includingKept)
    }

    /// - Parameter includingKept: also remove guests kept with `--keep`.
    public func reap(connection: Connection? = nil, includingKept: Bool = false) async -> Reaped {
        func isKept(_ guest: String) -> Bool {
            guard !includingKept, guest.hasPrefix("vmtest-") else { return false }
            let run = directories.runs.appendingPathComponent(String(guest.dropFirst("vmtest-".count)))
            return FileManager.default.fileExists(atPath: run.appendingPathComponent(Self.keptFile).path)
        }
        var reaped = Reaped()
        let fileManager = FileManager.default

        // Domains on a libvirt daemon (qemu:///system, remote) tagged by this host's dead
        // processes, first: the daemon destroys them cleanly, before their run directories
        // (and any QEMU the daemon no longer knows) are removed below.
        if let connection, let domains = try? await connection.domains() {
            let host = ProcessInfo.processInfo.hostName
            for domain in domains {
                guard let xml = try? await domain.metadata(namespaceURI: DomainDefinition.RunTag.namespaceURI),
                    let owner = Self.attribute("owner-pid", in: xml).flatMap(Int32.init),
                    Self.attribute("host", in: xml) == host, !Self.isAlive(owner), !isKept(domain.name)
                else { continue }
                if (try? await domain.destroyIfRunning()) == true { reaped.domains.append(domain.name) }
            }
        }

        // The volumes of dead runs in vmtest's pool there (a hypervisor that does not share
        // this machine's files): never created here, only looked for.
        if let connection, let pool = try? await connection.storagePool(named: HypervisorStorage.name),
            let names = try? await pool.volumeNames()
        {
            let host = RunVolumes.markedHost(ProcessInfo.processInfo.hostName)
            for mark in names {
                guard let owner = RunVolumes.owner(inMark: mark), owner.host == host, !Self.isAlive(owner.pid),
                    !isKept("vmtest-\(owner.runID)")
                else { continue }
                // The owner mark goes last: a clean cut short finds the run again.
                // With them, the volumes of a saved guest it had not yet published.
                let prefix = RunVolumes.prefix(runID: owner.runID)
                let own = names.filter { $0.hasPrefix(prefix) && $0 != mark } + PoolWarmStates.unpublished(runID: owner.runID, among: names)
                for name in own + [mark] {
                    if (try? await pool.volume(named: name)?.delete()) != nil { reaped.volumes.append(name) }
                }
            }
        }

        // Guests of dead embedded drivers: QEMU PIDs from each root's run/qemu/*.pid.
        let roots = directories.state.appendingPathComponent("libvirt")
        for name in (try? fileManager.contentsOfDirectory(atPath: roots.path)) ?? [] {
            guard let owner = Int32(name), !Self.isAlive(owner) else { continue }
            let root = roots.appendingPathComponent(name)
            let pidDirectory = root.appendingPathComponent("run/qemu")
            let pidFiles = ((try? fileManager.contentsOfDirectory(atPath: pidDirectory.path)) ?? []).filter { $0.hasSuffix(".pid") }
            // A root with a kept guest stays: `virsh -c qemu:///embed?root=...` needs it.
            if pidFiles.contains(where: { isKept(String($0.dropLast(4))) }) { continue }
            for file in pidFiles {
                let guest = String(file.dropLast(4))
                guard guest.hasPrefix("vmtest-"),
                    let text = try? String(contentsOf: pidDirectory.appendingPathComponent(file), encoding: .utf8),
                    let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                    Self.isQEMU(pid, runningGuest: guest)
                else { continue }
                kill(pid, SIGKILL)
                reaped.killedProcesses.append(pid)
            }
            try? fileManager.removeItem(at: root)
            reaped.embeddedRoots.append(root.path)
        }

        // Run directories (overlays, seeds, keys) whose owner is dead.
        for runID in (try? fileManager.contentsOfDirectory(atPath: directories.runs.path)) ?? [] {
            let run = directories.runs.appendingPathComponent(runID)
            let owner = (try? String(contentsOf: run.appendingPathComponent(Self.ownerFile), encoding: .utf8))
                .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            if let owner, Self.isAlive(owner) { continue }
            if isKept("vmtest-\(runID)") { continue }
            // A directory with no owner file yet may be a run starting this instant.
            if owner == nil, let created = (try? fileManager.attributesOfItem(atPath: run.path))?[.creationDate] as? Date,
                Date().timeIntervalSince(created) < 60
            {
                continue
            }
            for pid in Self.qemuProcesses(runningGuest: "vmtest-\(runID)") {
                kill(pid, SIGKILL)
                reaped.killedProcesses.append(pid)
            }
            try? fileManager.removeItem(at: run)
            reaped.runs.append(runID)
        }

        return reaped
    }

    /// The file in a run directory that names the owning process.
    public static let ownerFile = "owner.pid"
    /// Marks a run whose guest was kept (`--keep`): left alone unless asked for.
    public static let keptFile = "kept"

    static func isAlive(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    static func isQEMU(_ pid: Int32, runningGuest name: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return arguments.first?.contains("qemu-system") == true && arguments.contains { $0.contains("guest=\(name)") }
    }

    static func qemuProcesses(runningGuest name: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { isQEMU($0, runningGuest: name) }
    }

    static func attribute(_ name: String, in xml: String) -> String? {
        guard let start = xml.range(of: "\(name)=\"") ?? xml.range(of: "\(name)='") else { return nil }
        let quote = xml[xml.index(before: start.upperBound)]
        guard let end = xml[start.upperBound...].firstIndex(of: quote) else { return nil }
        return String(xml[start.upperBound..<end])
    }
}
