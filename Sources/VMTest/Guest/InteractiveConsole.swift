import Foundation

/// A person's terminal joined to a guest's console shell.
public enum InteractiveConsole {
    /// Puts the terminal in raw mode, joins it to the guest until Ctrl-], and restores it.
    ///
    /// Raw, because every key belongs to the guest (Ctrl-C interrupts the guest's
    /// command, not vmtest) and the guest's own terminal echoes and maps line endings
    /// (``GuestShell/interact(input:output:)`` gives it back its settings). The host
    /// terminal is restored however the session ends: Ctrl-], the guest going away, an
    /// error or a signal.
    public static func attach(to guest: Guest) async throws {
        try? FileHandle.standardError.write(
            contentsOf: Data("Connected to \(guest.domainName); press Ctrl-] to leave (the guest is then destroyed).\n".utf8))
        let terminal = RawTerminal(STDIN_FILENO)
        defer { terminal?.restore() }

        let keyboard = try KeyboardReader(STDIN_FILENO)
        defer { keyboard.stop() }
        try await guest.shell.interact(input: keyboard.input) { bytes in
            // A closed or full output is no reason to abort the process (as the
            // non-throwing write would): the session then just shows less.
            try? FileHandle.standardOutput.write(contentsOf: Data(bytes))
        }
    }
}

/// A terminal put in raw mode, until ``restore()``.
private struct RawTerminal {
    let descriptor: Int32
    let saved: termios

    /// Nil when `descriptor` is not a terminal (input from a pipe, as in scripts).
    init?(_ descriptor: Int32) {
        var saved = termios()
        guard tcgetattr(descriptor, &saved) == 0 else { return nil }
        var raw = saved
        cfmakeraw(&raw)
        guard tcsetattr(descriptor, TCSANOW, &raw) == 0 else { return nil }
        self.descriptor = descriptor
        self.saved = saved
    }

    func restore() {
        var saved = saved
        tcsetattr(descriptor, TCSANOW, &saved)
        // The guest's prompt is left mid-line; the host's shell starts on a line of its own.
        try? FileHandle.standardError.write(contentsOf: Data("\n".utf8))
    }
}

/// Reads the keyboard on a thread of its own (a blocking read does not belong on the
/// cooperative pool) until the input ends or ``stop()`` is called, which wakes the
/// thread through a pipe, so no stray reader is left to eat what is typed next.
private final class KeyboardReader: Sendable {
    let input: AsyncStream<[UInt8]>
    private let wake: (read: Int32, write: Int32)

    init(_ descriptor: Int32) throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let wake = (read: fds[0], write: fds[1])
        self.wake = wake
        let (input, continuation) = AsyncStream.makeStream(of: [UInt8].self)
        self.input = input
        let reader = Thread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            var watched = [
                pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0),
            ]
            while true {
                if poll(&watched, 2, -1) < 0 {
                    if errno == EINTR { continue }
                    break
                }
                if watched[1].revents != 0 { break }
                guard watched[0].revents != 0 else { continue }
                let count = read(descriptor, &buffer, buffer.count)
                if count < 0, errno == EINTR { continue }
                if count <= 0 { break }
                continuation.yield(Array(buffer[0..<count]))
            }
            continuation.finish()
            close(wake.read)
        }
        reader.name = "keyboard"
        reader.start()
    }

    func stop() {
        _ = write(wake.write, "x", 1)
        close(wake.write)
    }
}
