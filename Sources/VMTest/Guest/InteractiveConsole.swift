import Foundation

/// A person's terminal joined to a guest's console shell.
public enum InteractiveConsole {
    /// Puts the terminal in raw mode, joins it to the guest until Ctrl-], and restores it.
    public static func attach(to guest: Guest) async throws {
        FileHandle.standardError.write(Data("Connected to \(guest.domainName); press Ctrl-] to leave (the guest is then destroyed).\n".utf8))
        var saved = termios()
        let isTerminal = tcgetattr(STDIN_FILENO, &saved) == 0
        if isTerminal {
            var raw = saved
            cfmakeraw(&raw)
            tcsetattr(STDIN_FILENO, TCSANOW, &raw)
        }
        defer { if isTerminal { tcsetattr(STDIN_FILENO, TCSANOW, &saved) } }

        let (input, continuation) = AsyncStream.makeStream(of: [UInt8].self)
        // Blocking reads belong on a thread of their own, not on the cooperative pool.
        let reader = Thread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = read(STDIN_FILENO, &buffer, buffer.count)
                if count <= 0 { break }
                continuation.yield(Array(buffer[0..<count]))
            }
            continuation.finish()
        }
        reader.start()
        try await guest.shell.interact(input: input) { bytes in
            FileHandle.standardOutput.write(Data(bytes))
        }
    }
}
