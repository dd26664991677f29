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
        var xml = XMLWriter()
        xml.open("pool", ["type": "dir"])
        xml.element("name", text: name)
        xml.open("target")
        xml.element("path", text: path)
        xml.close("target")
        xml.close("pool")
        return HypervisorStorage(pool: try await connection.definePool(xml: xml.text))
    }

    /// Uploads `file` into a new volume `name` of `format`, with progress; a volume an
    /// upload failed into is deleted, so it never passes for the file. Returns the volume
    /// and the seconds the upload took.
    func upload(_ file: URL, as name: String, format: String, reporter: any Reporter) async throws -> (StorageVolume, Double) {
        let bytes = ImageFetcher.size(of: file)
        let volume = try await pool.createVolume(xml: BaseVolumes.volumeXML(name: name, bytes: bytes, format: format))
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
