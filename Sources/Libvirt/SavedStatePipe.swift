internal import CLibvirt
import Foundation

/// A state file of libvirt's QEMU driver served under another domain name and UUID
/// through a named pipe, instead of copied (``SavedStateFile``).
///
/// libvirt opens a restore's file, reads its header and XML, and hands the open file to
/// QEMU, which reads its migration stream front to back and never seeks. A named pipe at
/// the path gives libvirt the renamed header and XML and then QEMU the stream, moved from
/// the page cache into the pipe by the kernel (`sendfile`), while QEMU loads it. A copy
/// wrote the whole state (hundreds of MiB) into the page cache first: 0.06-0.4 s here
/// before QEMU even started, and the CPU of a copy for every guest of a night.
public enum SavedStatePipe {
    /// Makes a named pipe at `pipe` that serves `source` renamed to `name` and `uuid`
    /// while `body` runs (its restore reads it), then removes the pipe. What `body`'s
    /// reader leaves unread is dropped: QEMU stops at the stream's end marker.
    public static func serving<T: Sendable>(
        _ source: URL, at pipe: URL, name: String, uuid: UUID, during body: () async throws -> T
    ) async throws -> T {
        let served = try ServedState(source, at: pipe, name: name, uuid: uuid)
        defer { served.close() }
        let pump = Task.detached { try await LibvirtWorkers.runAlone { try served.pump() } }
        let result: Result<T, any Error>
        do { result = .success(try await body()) } catch { result = .failure(error) }
        served.stop()
        // A pump that failed left the reader at an early end of file, and so the restore
        // failed too: its error is the one that says what went wrong with the file.
        let pumped = await pump.result
        if case .failure = result { return try result.get() }
        try pumped.get()
        return try result.get()
    }
}

/// The open files behind one ``SavedStatePipe``: the state, the pipe's writing end and a
/// pipe that tells the pump to stop.
private final class ServedState: Sendable {
    let source: URL
    let pipe: URL
    let prefix: [UInt8]
    let input: FileHandle
    let size: off_t
    let output: Int32
    /// The pump waits on `stopReader`; ``stop()`` closes `stopWriter`.
    let stopReader: Int32
    let stopWriter: Int32

    init(_ source: URL, at pipe: URL, name: String, uuid: UUID) throws(SavedStateFileError) {
        self.source = source
        self.pipe = pipe
        (input, prefix) = try SavedStateFile.openRenamed(source, name: name, uuid: uuid)
        var status = stat()
        guard fstat(input.fileDescriptor, &status) == 0 else {
            let problem = Self.lastError
            try? input.close()
            throw SavedStateFileError(file: source, problem: "cannot be read (\(problem))")
        }
        size = status.st_size
        guard mkfifo(pipe.path, 0o600) == 0 else {
            try? input.close()
            throw SavedStateFileError(file: pipe, problem: "cannot be made as a named pipe (\(Self.lastError))")
        }
        // Read and write: the open neither waits for a reader nor fails without one, and
        // the pump's writes fail with EAGAIN rather than wait, so that it can be stopped.
        output = open(pipe.path, O_RDWR | O_NONBLOCK | O_CLOEXEC)
        var stops: [Int32] = [-1, -1]
        guard output >= 0, vmtest_pipe_closed_on_exec(&stops) == 0 else {
            let problem = Self.lastError
            if output >= 0 { Glibc.close(output) }
            try? input.close()
            unlink(pipe.path)
            throw SavedStateFileError(file: pipe, problem: "cannot be opened (\(problem))")
        }
        stopReader = stops[0]
        stopWriter = stops[1]
    }

    /// Writes the renamed header and XML, then the migration stream; returns when all of
    /// it is in the pipe or when told to stop.
    func pump() throws(SavedStateFileError) {
        defer { Glibc.close(output) }  // the reader sees the end of the file
        var written = 0
        while written < prefix.count {
            let count = prefix[written...].withUnsafeBytes { write(output, $0.baseAddress, $0.count) }
            if count > 0 {
                written += count
            } else if count < 0, errno == EAGAIN || errno == EINTR {
                guard waitUntilWritable() else { return }
            } else {
                throw SavedStateFileError(file: pipe, problem: "could not be written (\(Self.lastError))")
            }
        }
        var offset = off_t(prefix.count)
        while offset < size {
            let count = sendfile(output, input.fileDescriptor, &offset, Int(size - offset))
            if count == 0 { throw SavedStateFileError(file: source, problem: "ended early, at byte \(offset)") }
            if count < 0 {
                guard errno == EAGAIN || errno == EINTR else {
                    throw SavedStateFileError(file: pipe, problem: "could not be written (\(Self.lastError))")
                }
                guard waitUntilWritable() else { return }
            }
        }
    }

    /// Waits until the pipe takes more; false once told to stop.
    private func waitUntilWritable() -> Bool {
        var watched = [pollfd(fd: output, events: Int16(POLLOUT), revents: 0), pollfd(fd: stopReader, events: Int16(POLLIN), revents: 0)]
        while poll(&watched, 2, -1) < 0 && errno == EINTR {}
        return watched[1].revents == 0
    }

    /// Ends the pump's wait, if it waits, for good.
    func stop() { Glibc.close(stopWriter) }

    /// Closes what the pump does not, and removes the pipe; after the pump has ended.
    func close() {
        Glibc.close(stopReader)
        try? input.close()
        unlink(pipe.path)
    }

    private static var lastError: String { String(cString: strerror(errno)) }
}
