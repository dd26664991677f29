import Foundation
import Libvirt

/// Whether a hypervisor opens this machine's files by their paths: what decides where a
/// run's disks, kernels and console log live. A hypervisor that does is handed this
/// machine's paths; one that does not gets volumes in vmtest's pool there
/// (``RunVolumes``), uploaded through libvirt.
///
/// A URI cannot tell: a libvirtd on 127.0.0.1 may run in a mount namespace of its own,
/// and a remote one may mount the same network file system. So the hypervisor is asked
/// (``probe(_:directories:)``).
public enum FileSharing: Sendable, Hashable {
    /// It opens this machine's files (the embedded driver, a daemon on this machine).
    case shared
    /// It cannot: everything a run needs goes into vmtest's pool there.
    case separate

    /// Asks the hypervisor behind `connection` to list a directory made here just now,
    /// holding one file of a name nobody else uses, as a transient directory storage pool.
    /// It shares this machine's files when it lists that file; a daemon that cannot open
    /// the directory refuses to start the pool. When libvirt refuses for any other reason
    /// (no storage driver, not allowed), the URI decides: a hypervisor on this machine
    /// shares its files.
    static func probe(_ connection: Connection, uri: String, directories: Directories) async -> FileSharing {
        let nonce = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let directory = directories.runs.appendingPathComponent("probe-\(getpid())-\(nonce)")
        let marker = "vmtest-probe-\(nonce)"
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data().write(to: directory.appendingPathComponent(marker))
        } catch {
            return fromURI(uri)
        }
        defer { try? FileManager.default.removeItem(at: directory) }
        let pool: StoragePool
        do {
            pool = try await connection.startTransientPool(
                xml: HypervisorStorage.directoryPoolXML(name: "vmtest-probe-\(getpid())-\(nonce)", path: directory.path))
        } catch {
            return error.message.contains("No such file or directory") ? .separate : fromURI(uri)
        }
        let names = (try? await pool.volumeNames()) ?? []
        try? await pool.stop()
        return names.contains(marker) ? .shared : .separate
    }

    static func fromURI(_ uri: String) -> FileSharing {
        Hypervisor.isOnThisMachine(uri) ? .shared : .separate
    }
}
