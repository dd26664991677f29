import Foundation

/// The one lock for making an image (building or fetching it): an exclusive `flock` on
/// `.KEY.lock` beside the image's folder, waited for without blocking a thread.
///
/// `flock` locks belong to an open file, not to a process, so two tasks of one process
/// (a night's cells needing the same uncached image) take turns just as two processes
/// do. Release deletes the file while still holding the lock; whoever opened it just
/// before finds, once it has the lock, that the path names another file (or none), and
/// tries again: the usual unlink-safe lock-file protocol, so no lock file is left behind.
struct ImageLock {
    private let descriptor: Int32
    private let file: URL

    static func acquire(_ file: URL, whileWaiting: () -> Void) async throws -> ImageLock {
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        var told = false
        while true {
            let descriptor = open(file.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { throw ImageLockError(file: file, reason: "cannot create it: \(String(cString: strerror(errno)))") }
            while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
                guard errno == EWOULDBLOCK || errno == EINTR else {
                    let reason = String(cString: strerror(errno))
                    close(descriptor)
                    throw ImageLockError(file: file, reason: "cannot lock it: \(reason)")
                }
                if !told {
                    whileWaiting()
                    told = true
                }
                do {
                    try await Task.sleep(for: .milliseconds(250))
                } catch {
                    close(descriptor)
                    throw error
                }
            }
            if Self.names(file, descriptor) { return ImageLock(descriptor: descriptor, file: file) }
            close(descriptor)  // the holder before us deleted it: lock the new file
        }
    }

    /// Whether the path still names the file open on `descriptor`.
    private static func names(_ file: URL, _ descriptor: Int32) -> Bool {
        var open = stat()
        var named = stat()
        guard fstat(descriptor, &open) == 0, stat(file.path, &named) == 0 else { return false }
        return open.st_dev == named.st_dev && open.st_ino == named.st_ino
    }

    /// Deletes the lock file, then closes it, which releases the lock.
    func release() {
        unlink(file.path)
        close(descriptor)
    }
}

/// The image's lock file could not be made or locked (a read-only or full cache).
struct ImageLockError: Error, CustomStringConvertible {
    var file: URL
    var reason: String
    var description: String { "cannot lock \(file.path) to make the image: \(reason)" }
}
