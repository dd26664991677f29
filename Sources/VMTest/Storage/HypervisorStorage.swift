import Foundation
import Libvirt

/// vmtest's own directory storage pool on a hypervisor: where base images, each run's
/// disks and saved guests live on a machine that shares no file with this one. Reached
/// through libvirt alone, so a hypervisor needs nothing but libvirtd and QEMU.
public struct HypervisorStorage: Sendable {
    /// The pool's name on every hypervisor.
    public static let name = "vmtest"
    /// Where the pool keeps its files unless told otherwise: beside libvirt's own
    /// `default` pool, where QEMU under libvirtd may read and write.
    public static let defaultPath = "/var/lib/libvirt/images/vmtest"

    public let pool: StoragePool

    /// vmtest's pool on `connection`, defined, built and started first if it is not there
    /// (a pool that is defined but stopped is built again and started). An existing pool keeps its path:
    /// `path` only says where a new one goes.
    public static func open(on connection: Connection, path: String = defaultPath) async throws(LibvirtError) -> HypervisorStorage {
        if let pool = try await connection.storagePool(named: name) {
            if try await !pool.isActive() {
                // Its directory may be gone (a tmpfs after a reboot, a person's rm -r).
                try await pool.build()
                try await pool.start()
            }
            return HypervisorStorage(pool: pool)
        }
        return HypervisorStorage(pool: try await connection.definePool(xml: directoryPoolXML(name: name, path: path)))
    }

    /// A directory pool named `name` over `path`.
    static func directoryPoolXML(name: String, path: String) -> String {
        var xml = XMLWriter()
        xml.open("pool", ["type": "dir"])
        xml.element("name", text: name)
        xml.open("target")
        xml.element("path", text: path)
        xml.close("target")
        xml.close("pool")
        return xml.text
    }

    /// Reads the pool's volumes and free space again. libvirt refuses while it is making a
    /// volume there (another run's overlay, a few milliseconds): that is waited out.
    func refresh() async throws {
        var tries = 0
        while true {
            do {
                return try await pool.refresh()
            } catch {
                guard error.message.contains("asynchronous jobs running"), tries < 50 else { throw error }
                tries += 1
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// Uploads `file` into a new volume `name` of `format`, with progress; a volume an
    /// upload failed into is deleted, so it never passes for the file. A `capacity`
    /// beyond the file's size reads as zeros and takes no room. Returns the volume and
    /// the seconds the upload took.
    func upload(_ file: URL, as name: String, format: String, capacity: Int64 = 0, reporter: any Reporter) async throws -> (
        StorageVolume, Double
    ) {
        let bytes = ImageFetcher.size(of: file)
        // A pool too full for the file fails before any volume is made: none is left half
        // written. libvirt keeps the free space up to date as volumes come and go through it.
        let free = try await pool.space().available
        if UInt64(bytes) > free {
            throw HypervisorPoolFullError(
                uri: (try? await pool.connection.uri()) ?? "the hypervisor", volume: name, needed: bytes, free: Int64(free))
        }
        let volume = try await pool.createVolume(
            xml: BaseVolumes.volumeXML(name: name, bytes: max(bytes, capacity), allocation: bytes, format: format))
        let meter = ProgressMeter(reporter: reporter, label: "upload", name: name)
        meter.started(at: 0, total: bytes)
        let started = ContinuousClock.now
        do {
            _ = try await volume.upload(from: file) { meter.advanced(to: $0) }
        } catch {
            try? await volume.delete()
            throw error
        }
        return (volume, (ContinuousClock.now - started).seconds)
    }
}

/// vmtest's pool on a hypervisor has too little room for a file a run needs there: an
/// infrastructure failure, found before anything was written.
public struct HypervisorPoolFullError: Error, Sendable, CustomStringConvertible {
    public var uri: String
    public var volume: String
    public var needed: Int64
    public var free: Int64

    public var description: String {
        """
        vmtest's storage pool '\(HypervisorStorage.name)' on \(uri) has \(ImageFetcher.formatBytes(free)) free, \
        and \(volume) needs \(ImageFetcher.formatBytes(needed))
          fix: free space there (old base images are the volumes named base-*: `virsh -c '\(uri)' vol-list \(HypervisorStorage.name)`), \
        or give the pool a larger disk
        """
    }
}
