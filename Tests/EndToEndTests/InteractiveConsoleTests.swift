import Foundation
import Testing

/// `vmtest boot` without a command, as a person uses it: in a real terminal (a tmux pane
/// on a server of this test's own), typing a command, reading the screen, leaving with
/// Ctrl-].
@Suite(.serialized, .timeLimit(.minutes(20))) struct InteractiveConsoleTests {
    @Test func aPersonTypesACommandReadsItsOutputAndLeavesWithCtrlBracket() async throws {
        _ = try await EndToEnd.debianProfile()
        let tmux = try TmuxServer()
        // After vmtest: its exit status, and whether it gave the terminal back cooked.
        let script = """
            '\(EndToEnd.executable.path)' boot debian12-armhf; echo "vmtest-exit-status=$?"; \
            if stty -a | grep -q -- ' icanon'; then echo terminal-restored; else echo terminal-left-raw; fi; \
            exec sleep 3600
            """
        do {
            try await tmux.run(["new-session", "-d", "-s", "console", "-x", "160", "-y", "50", "-c", EndToEnd.repository.path, script])
            try await session(in: tmux)
        } catch {
            // Leave the guest (Ctrl-], or Ctrl-C before it is attached), so vmtest tears
            // it down before the server goes.
            await tmux.leaveVMTest()
            await tmux.stop()
            throw error
        }
        await tmux.stop()
    }

    private func session(in tmux: TmuxServer) async throws {
        let ready = try await tmux.waitForScreen(seconds: 600) { $0.contains { $0.hasPrefix("vmtest-guest# ") } }
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

    func stop() async {
        _ = try? await run(["kill-server"])
        try? FileManager.default.removeItem(at: socket)
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
