import Foundation
import Libvirt
import Synchronization

/// Appends the raw console bytes of the command channel to a file.
final class TranscriptFile: @unchecked Sendable {
    private let handle: FileHandle
    private let lock = NSLock()

    init(url: URL) throws {
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        handle = try FileHandle(forWritingTo: url)
    }

    func append(_ bytes: [UInt8]) {
        lock.lock()
        defer { lock.unlock() }
        handle.write(Data(bytes))
    }

    deinit { try? handle.close() }
}
