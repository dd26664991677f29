import Foundation
import Testing

/// `vmtest boot` without a command, as a person uses it: in a real terminal (a tmux pane
/// on a server of this test's own), typing a command, reading the screen, leaving with
/// Ctrl-].
@Suite(.serialized, .timeLimit(.minutes(20))) struct InteractiveConsoleTests {
    /// Restored from a saved guest (the usual way) and booted cold: the guest's terminal
    /// settings are given back either way.
    @Test(arguments: [false, true])
    func aPersonTypesACommandReadsItsOutputAndLeavesWithCtrlBracket(cold: Bool) async throws {
        _ = try await EndToEnd.debianProfile()
        let tmux = try TmuxServer()
        // After vmtest: its exit status, and whether it gave the terminal back cooked.
        let script = """
            '\(EndToEnd.executable.path)' boot debian12-armhf\(cold ? " --cold" : ""); echo "vmtest-exit-status=$?"; \
            if stty -a | grep -q -- ' icanon'; then echo terminal-restored; else echo terminal-left-raw; fi; \
            exec sleep 3600
            """
        do {
            try await tmux.start(["new-session", "-d", "-s", "console", "-x", "160", "-y", "50", "-c", EndToEnd.repository.path, script])
            try await session(in: tmux)
        } catch {
            // Leave the guest (Ctrl-], or Ctrl-C before it is attached), so vmtest tears
            // it down before the server goes.
            await tmux.leaveVMTest()
            try? await tmux.stop()
            throw error
        }
        try await tmux.stop()
        #expect(await !tmux.isRunning(), "the tmux server outlived kill-server")
    }

    private func session(in tmux: TmuxServer) async throws {
        let ready = try await tmux.waitForScreen(seconds: 600) { $0.contains { $0.hasPrefix("vmtest-guest#") } }
        let domain = try #require(ready.joined(separator: "\n").firstMatch(of: /Connected to (vmtest-[0-9a-z-]+);/)?.1)

        let token = "hello-\(UInt32.random(in: 0...UInt32.max))"
        try await tmux.run(["send-keys", "-t", "console", "-l", "echo \(token)"])
        try await tmux.run(["send-keys", "-t", "console", "Enter"])
        let answered = try await tmux.waitForScreen(seconds: 60) { $0.contains { $0.hasSuffix(token) && !$0.contains("echo") } }
        // The guest echoes the command line and prints its output on the next line,
        // which starts at column 0: the guest maps newlines to CR LF again.
        let shown = answered.joined(separator: "\n")
        #expect(answered.contains { $0.hasPrefix("vmtest-guest# echo \(token)") }, "screen:\n\(shown)")
        let outputLine = try #require(answered.firstIndex(of: token), "no line holds just the output at column 0:\n\(shown)")
        _ = try await tmux.waitForScreen(seconds: 30) { lines in
            lines.count > outputLine + 1 && lines[(outputLine + 1)...].contains { $0.hasPrefix("vmtest-guest#") }
        }

        try await tmux.run(["send-keys", "-t", "console", "-H", "1d"])
        let exited = try await tmux.waitForScreen(seconds: 180) { $0.contains { $0.hasPrefix("terminal-") } }
        #expect(exited.contains("vmtest-exit-status=0"), "screen:\n\(exited.joined(separator: "\n"))")
        #expect(exited.contains("terminal-restored"), "vmtest left the host terminal in raw mode")
        #expect(EndToEnd.qemuProcesses(forDomain: String(domain)).isEmpty, "QEMU outlived the session")
    }
}

/// A tmux server of the test's own, on a socket of its own: other tmux sessions on the
/// machine are never touched, and ``stop()`` ends exactly this one.
private struct TmuxServer {
    static let executable = URL(fileURLWithPath: "/usr/bin/tmux")
    let socket = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-e2e-tmux-\(UUID().uuidString.prefix(8))")

    init() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable.path) else {
            throw TmuxMissing()
        }
    }

    /// Starts the server with its first command. The server outlives that command and
    /// keeps every descriptor it inherited: a pipe for its output, or the descriptor
    /// Foundation's `Process` watches to see a child exit, would stay open for as long as
    /// the server runs. So the command is spawned with nothing open but /dev/null.
    func start(_ arguments: [String]) async throws {
        let argv = [Self.executable.path, "-S", socket.path] + arguments
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            Thread {
                var actions = posix_spawn_file_actions_t()
                posix_spawn_file_actions_init(&actions)
                defer { posix_spawn_file_actions_destroy(&actions) }
                for descriptor: Int32 in 0...2 {
                    posix_spawn_file_actions_addopen(&actions, descriptor, "/dev/null", descriptor == 0 ? O_RDONLY : O_WRONLY, 0)
                }
                let open = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []).compactMap { Int32($0) }
                for descriptor in open where descriptor > 2 && fcntl(descriptor, F_GETFD) >= 0 {
                    posix_spawn_file_actions_addclose(&actions, descriptor)
                }
                let cArguments = argv.map { strdup($0) } + [nil]
                defer {
                    for argument in cArguments { free(argument) }
                }
                // The test runner's threads block signals; the server, and the shell and
                // vmtest in its pane, must get them (kill-server hangs up the pane).
                var attributes = posix_spawnattr_t()
                posix_spawnattr_init(&attributes)
                defer { posix_spawnattr_destroy(&attributes) }
                var none = sigset_t()
                var all = sigset_t()
                sigemptyset(&none)
                sigfillset(&all)
                posix_spawnattr_setsigmask(&attributes, &none)
                posix_spawnattr_setsigdefault(&attributes, &all)
                posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
                var pid: pid_t = 0
                let spawned = posix_spawn(&pid, argv[0], &actions, &attributes, cArguments, environ)
                guard spawned == 0 else {
                    continuation.resume(throwing: POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO))
                    return
                }
                var status: Int32 = 0
                while waitpid(pid, &status, 0) < 0, errno == EINTR {}
                continuation.resume(returning: (status >> 8) & 0xFF)
            }.start()
        }
        guard status == 0 else { throw TmuxFailed(arguments: arguments, status: status) }
    }

    @discardableResult
    func run(_ arguments: [String]) async throws -> String {
        let result = try await EndToEnd.command(Self.executable, ["-S", socket.path] + arguments)
        guard result.status == 0 else { throw TmuxFailed(arguments: arguments, status: result.status) }
        return result.output
    }

    /// The pane's lines, trailing spaces trimmed: each starts where tmux drew it, so a
    /// line printed without a carriage return shows the spaces it was pushed right by.
    func screen() async throws -> [String] {
        try await run(["capture-pane", "-p", "-J", "-t", "console"]).split(separator: "\n", omittingEmptySubsequences: false)
            .map { String($0.reversed().drop { $0 == " " }.reversed()) }
    }

    /// Reads the screen until `done` holds for it. tmux tells nobody when a pane
    /// changes, so this looks twice a second.
    func waitForScreen(seconds: Double, until done: ([String]) -> Bool) async throws -> [String] {
        let deadline = ContinuousClock.now + .seconds(seconds)
        var lines = try await screen()
        while !done(lines) {
            guard ContinuousClock.now < deadline else {
                throw TmuxTimedOut(seconds: seconds, screen: lines)
            }
            try await Task.sleep(for: .milliseconds(500))
            lines = try await screen()
        }
        return lines
    }

    /// Ctrl-] leaves an attached console, Ctrl-C stops a vmtest still booting; then
    /// waits (at most two minutes) for vmtest to finish tearing its guest down.
    func leaveVMTest() async {
        _ = try? await run(["send-keys", "-t", "console", "-H", "1d"])
        _ = try? await run(["send-keys", "-t", "console", "-H", "03"])
        _ = try? await waitForScreen(seconds: 120) { $0.contains { $0.hasPrefix("terminal-") } }
    }

    /// Ends the server, then removes the socket it leaves behind.
    func stop() async throws {
        defer { try? FileManager.default.removeItem(at: socket) }
        try await run(["kill-server"])
    }

    /// Whether a server answers on the socket.
    func isRunning() async -> Bool {
        (try? await run(["list-sessions"])) != nil
    }
}

struct TmuxMissing: Error, CustomStringConvertible {
    var description: String { "tmux is not installed (script/setup installs it)" }
}

struct TmuxFailed: Error, CustomStringConvertible {
    var arguments: [String]
    var status: Int32
    var description: String { "tmux \(arguments.joined(separator: " ")) exited with \(status)" }
}

struct TmuxTimedOut: Error, CustomStringConvertible {
    var seconds: Double
    var screen: [String]
    var description: String { "the screen did not show what was awaited within \(Int(seconds)) s:\n" + screen.joined(separator: "\n") }
}
