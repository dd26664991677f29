import Foundation
import Libvirt

/// Base images kept in vmtest's pool on a hypervisor (``HypervisorStorage``), uploaded once
/// and shared by every later run there.
///
/// A base is named by its disk's SHA-256, so the same image is never uploaded twice and
/// an image built anew never passes for an old one. An upload cut short (a crash, a
/// Ctrl-C, a full disk) leaves a volume that must never pass for a base: the base counts
/// only once a second, empty volume, its completion mark, exists, made after the
/// upload finished. A base without its mark is deleted and uploaded again.
public struct BaseVolumes: Sendable {
    public let storage: HypervisorStorage

    public init(storage: HypervisorStorage) {
        self.storage = storage
    }

    /// What ``base(sha256:file:reporter:)`` did.
    public enum Outcome: Sendable, Hashable {
        /// It was there, complete.
        case reused
        /// It was uploaded now: how many bytes, in how many seconds.
        case uploaded(bytes: Int64, seconds: Double)
    }

    public static func volumeName(sha256: String) -> String { "base-\(sha256).qcow2" }
    static func markName(sha256: String) -> String { "base-\(sha256).complete" }

    /// The complete base volume for the qcow2 disk `file` whose SHA-256 is `sha256`,
    /// uploaded first (with progress) when the hypervisor has none.
    public func base(sha256: String, file: URL, reporter: any Reporter) async throws -> (StorageVolume, Outcome) {
        let name = Self.volumeName(sha256: sha256)
        let existing = try await storage.pool.volume(named: name)
        if let existing, try await storage.pool.volume(named: Self.markName(sha256: sha256)) != nil {
            return (existing, .reused)
        }
        if let existing {
            reporter.detail("upload", "\(name) on the hypervisor has no completion mark (an upload cut short): uploading it again")
            try await existing.delete()
        }
        let bytes = ImageFetcher.size(of: file)
        let volume = try await storage.pool.createVolume(xml: Self.volumeXML(name: name, bytes: bytes, format: "qcow2"))
        let meter = ProgressMeter(reporter: reporter, label: "upload", name: name)
        meter.started(at: 0, total: bytes)
        let started = ContinuousClock.now
        do {
            _ = try await volume.upload(from: file) { meter.advanced(to: $0) }
        } catch {
            try? await volume.delete()
            throw error
        }
        _ = try await storage.pool.createVolume(xml: Self.volumeXML(name: Self.markName(sha256: sha256), bytes: 0, format: "raw"))
        // libvirt still describes the empty qcow2 it created; it reads the uploaded one's
        // header (its virtual size, what overlays on it get) on a refresh.
        try await storage.pool.refresh()
        return (volume, .uploaded(bytes: bytes, seconds: (ContinuousClock.now - started).seconds))
    }

    static func volumeXML(name: String, bytes: Int64, format: String) -> String {
        var xml = XMLWriter()
        xml.open("volume")
        xml.element("name", text: name)
        xml.element("capacity", ["unit": "bytes"], text: String(bytes))
        xml.open("target")
        xml.element("format", ["type": format])
        xml.close("target")
        xml.close("volume")
        return xml.text
    }
}
