import Foundation
import Testing

@testable import VMTest

/// The console command channel against a real bash on a pseudo-terminal.
@Suite(.serialized) struct GuestShellTests {
    static func readyShell() async throws -> (GuestShell, PseudoTerminalShell) {
        let terminal = try PseudoTerminalShell.autologin()
        let shell = GuestShell(transport: terminal, scratchDirectory: NSTemporaryDirectory() + "vmtest-shell-\(getpid())")
        // Generous: at the start of the main batch, fixtures built synchronously by other
        // suites (RPMs, example packages) hold the test process's threads for a while.
        try await shell.waitUntilReady(login: .autologin, timeout: .seconds(180))
        return (shell, terminal)
    }

    @Test func returnsStatusAndSeparatesOutputFromErrors() async throws {
        let (shell, terminal) = try await Self.readyShell()
        defer { terminal.terminate() }
        let result = try await shell.run("echo hello; echo oops >&2; exit 42", timeout: .seconds(10))
        #expect(result.exitStatus == 42)
        #expect(result.standardOutput == "hello\n")
        #expect(result.standardError == "oops\n")
        let passing = try await shell.run("true", timeout: .seconds(10))
        #expect(passing.exitStatus == 0)
        #expect(passing.standardOutput.isEmpty)
        let failing = try await shell.run("false", timeout: .seconds(10))
        #expect(failing.exitStatus == 1)
    }

    @Test func carriesAnyTextThroughUnharmed() async throws {
        let (shell, terminal) = try await Self.readyShell()
        defer { terminal.terminate() }
        let tricky = #"it's "quoted" $HOME `date` \n \036 ünïcödé !! !$ !x -V %s %%"#
        let result = try await shell.run("cat <<'EOF'\n\(tricky)\nEOF", timeout: .seconds(10))
        #expect(result.standardOutput == tricky + "\n")
    }

    @Test func sendsLongCommandsInChunks() async throws {
        let (shell, terminal) = try await Self.readyShell()
        defer { terminal.terminate() }
        let payload = String(repeating: "abcdefghij", count: 2000)  // 20 000 characters
        let result = try await shell.run("printf %s '\(payload)' | wc -c", timeout: .seconds(20))
        #expect(result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "20000")
    }

    @Test func bringsBackLargeOutputWhole() async throws {
        let (shell, terminal) = try await Self.readyShell()
        defer { terminal.terminate() }
        let result = try await shell.run("seq 5000", timeout: .seconds(20))
        let lines = result.standardOutput.split(separator: "\n")
        #expect(lines.count == 5000)
        #expect(lines.last == "5000")
    }

    @Test func aCommandReadingInputCannotSwallowTheNext() async throws {
        let (shell, terminal) = try await Self.readyShell()
        defer { terminal.terminate() }
        _ = try await shell.run("cat", timeout: .seconds(10))
        let next = try await shell.run("echo next", timeout: .seconds(10))
        #expect(next.standardOutput == "next\n")
    }

    @Test func aTimeOutInterruptsTheCommandAndTheShellGoesOn() async throws {
        let (shell, terminal) = try await Self.readyShell()
        defer { terminal.terminate() }
        await #expect {
            try await shell.run("echo started; sleep 30", timeout: .seconds(2))
        } throws: { error in
            guard let error = error as? GuestChannelError, case .commandTimedOut = error.kind else { return false }
            return error.lastLines.contains("started")
        }
        let after = try await shell.run("echo after", timeout: .seconds(10))
        #expect(after.standardOutput == "after\n")
    }

    /// A getty's login after `prompt` (printf's format): a shell for root with the
    /// password `centos`.
    static func passwordLogin(prompt: String) -> String {
        """
        printf '\(prompt)'
        read user
        stty -echo; printf 'Password: '; read password; stty echo; printf '\\r\\n'
        [ "$user" = root ] && [ "$password" = centos ] && exec bash --rcfile \(PseudoTerminalShell.rcFile) -i
        echo 'Login incorrect'
        """
    }

    @Test func logsInAtAPasswordPrompt() async throws {
        let terminal = try PseudoTerminalShell(
            script: """
                sleep 0.5
                \(Self.passwordLogin(prompt: "CentOS Linux 7 (AltArch)\\r\\n\\r\\nlocalhost login: "))
                """)
        defer { terminal.terminate() }
        let shell = GuestShell(transport: terminal, scratchDirectory: NSTemporaryDirectory() + "vmtest-shell-\(getpid())")
        try await shell.waitUntilReady(login: .password(user: "root", password: "centos"), timeout: .seconds(60))
        let result = try await shell.run("echo logged-in", timeout: .seconds(10))
        #expect(result.standardOutput == "logged-in\n")
    }

    /// A boot loader on the same line as the login prompt (U-Boot on ttyAMA0): a newline
    /// typed during its countdown stops the boot at its prompt, which never turns into a
    /// login prompt.
    @Test func typesNothingBeforeTheBootLoaderHasStartedTheKernel() async throws {
        let terminal = try PseudoTerminalShell(
            script: """
                printf 'U-Boot 2023.01\r\nHit any key to stop autoboot:  3 '
                if bash -c 'read -r -t 5 key'; then printf '\r\n=> '; exec sleep 60; fi
                printf '\r\nStarting kernel ...\r\n\r\n'
                sleep 0.5
                \(Self.passwordLogin(prompt: "vmtest login: "))
                """)
        defer { terminal.terminate() }
        let shell = GuestShell(transport: terminal, scratchDirectory: NSTemporaryDirectory() + "vmtest-shell-\(getpid())")
        try await shell.waitUntilReady(
            login: .password(user: "root", password: "centos"), typingSafeAfter: "Starting kernel", timeout: .seconds(30))
        let result = try await shell.run("echo logged-in", timeout: .seconds(10))
        #expect(result.standardOutput == "logged-in\n")
    }

    @Test func reportsAClosedConsole() async throws {
        let (shell, terminal) = try await Self.readyShell()
        terminal.terminate()
        await #expect {
            try await shell.run("echo never", timeout: .seconds(10))
        } throws: { error in
            (error as? GuestChannelError)?.kind == .consoleClosed
        }
    }

    @Test func readinessTimesOutWithTheConsoleTail() async throws {
        let terminal = try PseudoTerminalShell(script: "printf 'Kernel panic - not syncing: VFS\\r\\n'; sleep 30")
        defer { terminal.terminate() }
        let shell = GuestShell(transport: terminal)
        await #expect {
            try await shell.waitUntilReady(login: .autologin, timeout: .seconds(3))
        } throws: { error in
            guard let error = error as? GuestChannelError else { return false }
            return error.kind == .notReady && error.description.contains("Kernel panic")
        }
    }
}
