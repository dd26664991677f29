import CLibvirt
import Foundation

@testable import VMTest

/// A real shell on a real pseudo-terminal of this host, as a ``ConsoleTransport``.
///
/// It has everything a guest console has that a hand-written fake would not: the tty's
/// echo and CRLF translation, bash's bracketed-paste codes and coloured prompt, a
/// "getty" that appears only after a while and flushes what was typed before it.
final class PseudoTerminalShell: ConsoleTransport, Sendable {
    private let master: Int32
    let process: Process
    private let (stream, continuation) = AsyncThrowingStream.makeStream(of: [UInt8].self)

    /// - Parameter script: what runs on the terminal (a `sh -c` script).
    private let pidFile = NSTemporaryDirectory() + "vmtest-pty-\(UUID().uuidString).pid"

    init(script: String) throws {
        // posix_openpt and friends are not visible to Swift; these are what they do, with
        // the request numbers from <sys/ioctl.h> through CLibvirt.
        master = open("/dev/ptmx", O_RDWR | O_NOCTTY)
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard master >= 0,
            IOControl.call(master, vmtest_tiocsptlck_request, &unlock) == 0,
            IOControl.call(master, vmtest_tiocgptn_request, &number) == 0,
            let slave = FileHandle(forUpdatingAtPath: "/dev/pts/\(number)")
        else {
            throw POSIXError(.ENOTTY)
        }
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setsid")
        // setsid --ctty: the pty becomes the controlling terminal, so Ctrl-C reaches
        // the foreground command as it does in a guest.
        // setsid forks when it leads a process group, so the shell writes its own PID
        // (the session's, which `exec` keeps) for terminate() to kill the session.
        process.arguments = ["--ctty", "/bin/sh", "-c", "echo $$ > \(pidFile)\n" + script]
        process.standardInput = slave
        process.standardOutput = slave
        process.standardError = slave
        var environment = ProcessInfo.processInfo.environment
        environment["TERM"] = "xterm-256color"
        environment["PS1"] = "\\[\\e[1;32m\\]root@guest\\[\\e[0m\\]:\\w# "
        process.environment = environment
        try process.run()
        try slave.close()

        let fd = master
        let continuation = continuation
        Thread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = read(fd, &buffer, buffer.count)
                if count <= 0 { break }
                continuation.yield(Array(buffer[0..<count]))
            }
            continuation.finish()
        }.start()
    }

    /// A shell that starts after `delay` seconds and drops input typed before then, like
    /// an autologin getty on a booting guest.
    static func autologin(delay: Double = 1) throws -> PseudoTerminalShell {
        try PseudoTerminalShell(
            script: """
                sleep \(delay)
                python3 -c 'import termios; termios.tcflush(0, termios.TCIFLUSH)'
                printf '\\r\\n[    4.210] random: crng init done\\r\\n'
                exec bash --rcfile \(Self.rcFile) -i
                """)
    }

    /// A ready guest shell whose commands named in `commands` are stand-ins: each a
    /// `/bin/sh` script of the given body, in `folder`, first on the shell's PATH.
    static func readyShell(standIns commands: [String: String], in folder: URL) async throws -> (GuestShell, PseudoTerminalShell) {
        for (name, body) in commands {
            let fake = folder.appendingPathComponent(name)
            try "#!/bin/sh\n\(body)\n".write(to: fake, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: fake.path)
        }
        let terminal = try PseudoTerminalShell(script: "export PATH=\(folder.path):$PATH\nexec bash --rcfile \(rcFile) -i")
        let shell = GuestShell(transport: terminal, scratchDirectory: folder.appendingPathComponent("scratch").path)
        try await shell.waitUntilReady(login: .autologin, timeout: .seconds(60))
        return (shell, terminal)
    }

    /// bash start-up for the fixture: the channel quiets a guest's kernel with
    /// `dmesg -n 1`, which on this host would change the host's console log level.
    static let rcFile: String = {
        let path = NSTemporaryDirectory() + "vmtest-pty-bashrc"
        try? "dmesg() { :; }\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }()

    func output() -> AsyncThrowingStream<[UInt8], any Error> { stream }

    func send(_ bytes: [UInt8]) async throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(master, $0.baseAddress, $0.count) }
            if written < 0 { throw POSIXError(.EIO) }
            offset += written
        }
    }

    /// Kills the terminal's whole session (the shell and what it started).
    func terminate() {
        if let text = try? String(contentsOfFile: pidFile, encoding: .utf8),
            let session = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            kill(-session, SIGKILL)
        }
        try? FileManager.default.removeItem(atPath: pidFile)
        // Process reaps its child on its own thread; waitUntilExit would block this one.
        for _ in 0..<200 where process.isRunning { usleep(10_000) }
    }

    deinit {
        terminate()
        close(master)
    }
}
