import Foundation

/// Folders a step works in before its result is moved into place or deleted: named
/// `PREFIX-PID-RANDOM`, so parallel steps of one process (a night's cells) never share
/// one, and swept when they are left behind.
///
/// A folder is left behind when its process died mid-step. It is swept when that process
/// is gone, or when it is older than ``abandonedAfter`` (its PID may have been reused).
enum ScratchFolder {
    /// Longer than any step that uses a scratch folder (an image build takes minutes).
    static let abandonedAfter: TimeInterval = 2 * 24 * 3600

    /// A new, empty folder in `parent` (created if needed), after sweeping what dead
    /// processes left there under the same prefix.
    static func make(in parent: URL, prefix: String) throws -> URL {
        try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
        sweep(in: parent, prefix: prefix)
        let folder = parent.appendingPathComponent("\(prefix)-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: false)
        return folder
    }

    /// Removes `PREFIX-PID-...` folders whose process is gone or that are too old.
    static func sweep(in parent: URL, prefix: String, now: Date = Date()) {
        let fileManager = FileManager.default
        for name in (try? fileManager.contentsOfDirectory(atPath: parent.path)) ?? [] where name.hasPrefix(prefix + "-") {
            let folder = parent.appendingPathComponent(name)
            let owner = name.dropFirst(prefix.count + 1).prefix { $0 != "-" }
            guard let pid = Int32(owner) else { continue }
            let modified = (try? fileManager.attributesOfItem(atPath: folder.path)[.modificationDate] as? Date) ?? now
            let dead = pid != getpid() && kill(pid, 0) != 0 && errno == ESRCH
            if dead || now.timeIntervalSince(modified) > abandonedAfter {
                try? fileManager.removeItem(at: folder)
            }
        }
    }
}
