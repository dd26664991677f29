import Foundation
import Synchronization

/// Appends the raw console bytes of the command channel to a file.
///
/// The transcript is for a person debugging a run, so a write that fails (a full disk)
/// stops the transcript, with a last line saying so when it still fits, and never the run.
final class TranscriptFile: Sendable {
    private let handle: Mutex<FileHandle?>

    init(url: URL) throws {
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        handle = Mutex(try FileHandle(forWritingTo: url))
    }

    func append(_ bytes: [UInt8]) {
        handle.withLock { handle in
            guard let file = handle else { return }
            do {
                try file.write(contentsOf: bytes)
            } catch {
                try? file.write(contentsOf: Data("\n[vmtest: transcript stopped: \(error.localizedDescription)]\n".utf8))
                try? file.close()
                handle = nil
            }
        }
    }

    deinit { handle.withLock { try? $0?.close() } }
}
