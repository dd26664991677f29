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
    /// A kernel, initramfs or firmware image: read by QEMU, never written, so shared too.
    static func bootFileName(sha256: String) -> String { "boot-\(sha256)" }

    /// The complete base volume for the qcow2 disk `file` whose SHA-256 is `sha256`,
    /// uploaded first (with progress) when the hypervisor has none.
    public func base(sha256: String, file: URL, reporter: any Reporter) async throws -> (StorageVolume, Outcome) {
        try await shared(
            Self.volumeName(sha256: sha256), format: "qcow2", mark: Self.markName(sha256: sha256), file: file, reporter: reporter)
    }

    /// The complete volume holding the boot file (kernel, initramfs, firmware) `file`
    /// whose SHA-256 is `sha256`, uploaded first when the hypervisor has none.
    public func bootFile(sha256: String, file: URL, reporter: any Reporter) async throws -> (StorageVolume, Outcome) {
        let name = Self.bootFileName(sha256: sha256)
        return try await shared(name, format: "raw", mark: "\(name).complete", file: file, reporter: reporter)
    }

    /// Runs of one process that need the same volume at once wait for one upload of it
    /// (a nightly's parallel sets on one hypervisor).
    private func shared(_ name: String, format: String, mark: String, file: URL, reporter: any Reporter) async throws -> (
        StorageVolume, Outcome
    ) {
        try await SharedUploads.shared.once(key: "\(ObjectIdentifier(storage.pool.connection).hashValue) \(name)") {
            try await upload(name, format: format, mark: mark, file: file, reporter: reporter)
        }
    }

    private func upload(_ name: String, format: String, mark: String, file: URL, reporter: any Reporter) async throws -> (
        StorageVolume, Outcome
    ) {
        let existing = try await storage.pool.volume(named: name)
        if let existing, try await storage.pool.volume(named: mark) != nil {
            return (existing, .reused)
        }
        if let existing {
            reporter.detail("upload", "\(name) on the hypervisor has no completion mark (an upload cut short): uploading it again")
            try await existing.delete()
        }
        let (volume, seconds) = try await storage.upload(file, as: name, format: format, reporter: reporter)
        _ = try await storage.pool.createVolume(xml: Self.volumeXML(name: mark, bytes: 0, format: "raw"))
        // libvirt still describes the empty qcow2 it created; it reads the uploaded one's
        // header (its virtual size, what overlays on it get) on a refresh.
        try await storage.refresh()
        return (volume, .uploaded(bytes: ImageFetcher.size(of: file), seconds: seconds))
    }

    /// A volume of `bytes` in `format`, of which `allocation` take room at once (by
    /// default all); with `backingStore`, a copy-on-write overlay over that qcow2 volume's path.
    static func volumeXML(name: String, bytes: Int64, allocation: Int64? = nil, format: String, backingStore: String? = nil) -> String {
        var xml = XMLWriter()
        xml.open("volume")
        xml.element("name", text: name)
        xml.element("capacity", ["unit": "bytes"], text: String(bytes))
        if let allocation { xml.element("allocation", ["unit": "bytes"], text: String(allocation)) }
        xml.open("target")
        xml.element("format", ["type": format])
        xml.close("target")
        if let backingStore {
            xml.open("backingStore")
            xml.element("path", text: backingStore)
            xml.element("format", ["type": "qcow2"])
            xml.close("backingStore")
        }
        xml.close("volume")
        return xml.text
    }
}

/// One upload at a time per volume in a process; whoever asks while it runs gets its
/// volume as reused.
private actor SharedUploads {
    static let shared = SharedUploads()
    private var running: [String: Task<(StorageVolume, BaseVolumes.Outcome), any Error>] = [:]

    func once(
        key: String, _ work: @escaping @Sendable () async throws -> (StorageVolume, BaseVolumes.Outcome)
    ) async throws -> (StorageVolume, BaseVolumes.Outcome) {
        if let task = running[key] { return (try await task.value.0, .reused) }
        let task = Task { try await work() }
        running[key] = task
        defer { running[key] = nil }
        return try await task.value
    }
}
