import Foundation
import Subprocess
import Synchronization
import SystemPackage

/// Where a guest's SSH server is and how to trust it.
public struct SSHEndpoint: Sendable, Hashable {
    public var host: String
    public var port: Int
    public var user: String
    /// The run's private key (mode 0600).
    public var identity: URL
    /// A known_hosts file holding the guest's pinned host key, and nothing else.
    public var knownHosts: URL
    /// The ControlMaster socket. UNIX socket paths are short (108 bytes), so a long one
    /// is replaced by one in the temporary directory (see ``SSHChannel/init(endpoint:)``).
    public var controlPath: URL
    /// The hypervisor to go through when `host` is its loopback, not this machine's.
    public var jump: SSHJump?

    public init(
        host: String = "127.0.0.1", port: Int, user: String = "root", identity: URL, knownHosts: URL, controlPath: URL,
        jump: SSHJump? = nil
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.identity = identity
        self.knownHosts = knownHosts
        self.controlPath = controlPath
        self.jump = jump
    }

    /// How the host appears in known_hosts: `[127.0.0.1]:PORT` (OpenSSH's form for a
    /// non-standard port).
    public var knownHostsName: String { port == 22 ? host : "[\(host)]:\(port)" }
}

/// SSH itself failed (exit status 255): the connection was refused, reset, timed out,
/// or the host key did not match the pinned one.
public struct SSHChannelError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case notReady
        case connectionFailed
        case commandTimedOut(command: String)
        case copyFailed(local: String, guest: String)
    }

    public var kind: Kind
    public var seconds: Double
    /// ssh's own standard error, the part that says why.
    public var standardError: String

    public var description: String {
        let what: String
        switch kind {
        case .notReady: what = "the guest's SSH server did not accept a command within \(Int(seconds)) s"
        case .connectionFailed: what = "ssh failed (exit status 255) after \(String(format: "%.1f", seconds)) s"
        case .commandTimedOut(let command): what = "`\(command)` did not finish within \(Int(seconds)) s over SSH"
        case .copyFailed(let local, let guest): what = "scp of \(local) to the guest's \(guest) failed"
        }
        let tail = standardError.split(separator: "\n").suffix(10)
        guard !tail.isEmpty else { return what }
        return what + ":\n" + tail.map { "  | \($0)" }.joined(separator: "\n")
    }
}

/// Runs commands in a guest over OpenSSH, with the same contract as ``GuestShell``: a
/// command's exit status and its two output streams come back as a ``CommandResult``,
/// a non-zero exit is a result, and only the channel failing throws.
///
/// Under TCG a new SSH connection costs about 0.8 s (the key exchange runs on the
/// emulated CPU), so the channel opens one connection, an OpenSSH ControlMaster, and
/// every command and copy rides on it as a new session (0.1-0.25 s measured under TCG:
/// sshd forking the session and the guest's shell starting, all emulated). The
/// master is this process's child, in the foreground (`-N`, no `ControlPersist`): it
/// lives exactly until ``close()``, and cancelling the task that runs it kills it. If
/// vmtest itself is killed, the master notices the dead guest within
/// `ServerAliveInterval` × `ServerAliveCountMax` and exits.
///
/// The host key is never accepted on trust: the channel only connects to a guest whose
/// key is already in ``SSHEndpoint/knownHosts`` (read over the console, out of band),
/// with `StrictHostKeyChecking=yes`.
///
/// Commands run with `sh -c`, standard input from `/dev/null` (`ssh -n`), no terminal
/// (`-T`), so standard output and standard error stay apart. One ambiguity is
/// OpenSSH's: a command that itself exits 255 is reported as a failed connection.
public actor SSHChannel {
    public nonisolated let endpoint: SSHEndpoint
    private var master: Task<MasterExit, any Error>?
    private let masterState = MasterState()

    struct MasterExit: Sendable {
        var status: String
        var standardError: String
    }

    /// Shared with the task that runs the master: its pid while it runs, how it ended.
    final class MasterState: Sendable {
        let pid = Mutex<pid_t?>(nil)
        let exit = Mutex<MasterExit?>(nil)
    }

    public init(endpoint: SSHEndpoint) {
        var endpoint = endpoint
        // ssh appends a 17-character suffix to the path while it binds the socket.
        if endpoint.controlPath.path.utf8.count > 90 {
            // Named by a hash of the long path: the same in every process (`hashValue` is
            // seeded per process), so a run's socket has one name wherever it is asked for.
            let name = "vmtest-ssh-\(StableHash.fnv1a(Data(endpoint.controlPath.path.utf8))).sock"
            endpoint.controlPath = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent(name)
        }
        self.endpoint = endpoint
    }

    deinit { master?.cancel() }

    /// The ControlMaster's process id while it runs.
    public nonisolated var masterProcessID: pid_t? { masterState.pid.withLock { $0 } }

    // MARK: Options

    /// Options every ssh and scp invocation shares. `-F /dev/null`: nothing from the
    /// user's `~/.ssh/config` may change how vmtest talks to its guest.
    nonisolated var commonOptions: [String] {
        [
            "-F", "/dev/null",
            "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes",
            "-o", "IdentityAgent=none",
            "-i", endpoint.identity.path,
            "-o", "User=\(endpoint.user)",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "UserKnownHostsFile=\(endpoint.knownHosts.path)",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "HostKeyAlgorithms=ssh-ed25519",
            "-o", "UpdateHostKeys=no",
            "-o", "CheckHostIP=no",
            "-o", "ConnectTimeout=30",
            "-o", "ServerAliveInterval=10",
            "-o", "ServerAliveCountMax=6",
            "-o", "LogLevel=ERROR",
            "-o", "ControlPath=\(endpoint.controlPath.path)",
        ] + (endpoint.jump.map { ["-o", "ProxyCommand=\($0.proxyCommand)"] } ?? [])
    }

    /// ssh's options plus the port (`-p`; scp spells it `-P`).
    nonisolated var sshOptions: [String] { commonOptions + ["-p", String(endpoint.port)] }

    // MARK: Connecting

    /// Opens the master connection, retrying with backoff until it carries a command
    /// (`true`) or `timeout` passes.
    ///
    /// QEMU's forwarded port accepts TCP as soon as the guest runs, long before sshd
    /// does, so an open port proves nothing; a whole command does.
    public func connect(timeout: Duration) async throws {
        let start = ContinuousClock.now
        let deadline = start + timeout
        var delay = Duration.milliseconds(500)
        var lastError = ""
        while true {
            try Task.checkCancellation()
            if master == nil { startMaster() }
            // Wait for the master to be up (socket answers) or to have given up.
            while masterState.exit.withLock({ $0 }) == nil, ContinuousClock.now < deadline {
                if FileManager.default.fileExists(atPath: endpoint.controlPath.path),
                    let check = try? await Self.execute(
                        ExternalTool.ssh, sshOptions + ["-O", "check", endpoint.host], timeout: .seconds(10)),
                    check.status == 0
                {
                    let probe = try? await Self.execute(
                        ExternalTool.ssh, sshOptions + ["-o", "ControlMaster=no", "-T", "-n", endpoint.host, "true"], timeout: .seconds(60))
                    if probe?.status == 0 { return }
                    lastError = probe?.standardError ?? lastError
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            if let exit = masterState.exit.withLock({ $0 }) {
                lastError = exit.standardError.isEmpty ? "ssh master exited (\(exit.status))" : exit.standardError
                _ = try? await master?.value
                master = nil
                masterState.exit.withLock { $0 = nil }
            }
            guard ContinuousClock.now + delay < deadline else {
                await close()
                throw SSHChannelError(kind: .notReady, seconds: (ContinuousClock.now - start).seconds, standardError: lastError)
            }
            try await Task.sleep(for: delay)
            delay = min(delay * 2, .seconds(4))
        }
    }

    private func startMaster() {
        let arguments = sshOptions + ["-o", "ControlMaster=yes", "-o", "ControlPersist=no", "-N", "-T", "-n", endpoint.host]
        try? FileManager.default.removeItem(at: endpoint.controlPath)
        let state = masterState
        master = Task {
            do {
                let result = try await Subprocess.run(
                    .path(FilePath(try ExternalTool.ssh.resolved())),
                    arguments: Arguments(arguments),
                    input: .none,
                    output: .discarded,
                    error: .string(limit: 64 << 10)
                ) { execution in
                    state.pid.withLock { $0 = execution.processIdentifier.value }
                }
                let outcome = MasterExit(status: "\(result.terminationStatus)", standardError: result.standardError)
                state.pid.withLock { $0 = nil }
                state.exit.withLock { $0 = outcome }
                return outcome
            } catch {
                let outcome = MasterExit(status: "not started", standardError: "\(error)")
                state.pid.withLock { $0 = nil }
                state.exit.withLock { $0 = outcome }
                return outcome
            }
        }
    }

    /// Closes the master connection (`ssh -O exit`) and waits for its process to end;
    /// kills it if it does not within five seconds. Idempotent.
    public func close() async {
        guard let master else { return }
        if masterState.exit.withLock({ $0 }) == nil {
            _ = try? await Self.execute(ExternalTool.ssh, sshOptions + ["-O", "exit", endpoint.host], timeout: .seconds(5))
            let deadline = ContinuousClock.now + .seconds(5)
            while masterState.exit.withLock({ $0 }) == nil, ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(50))
            }
            // Still there: cancelling the task makes Subprocess kill the process.
            if masterState.exit.withLock({ $0 }) == nil { master.cancel() }
        }
        _ = try? await master.value
        self.master = nil
        masterState.exit.withLock { $0 = nil }
        try? FileManager.default.removeItem(at: endpoint.controlPath)
    }

    // MARK: Commands

    /// Runs `command` with `sh -c` in the guest.
    public func run(_ command: String, timeout: Duration) async throws -> CommandResult {
        let start = ContinuousClock.now
        let arguments = sshOptions + ["-o", "ControlMaster=no", "-T", "-n", endpoint.host, "sh -c \(ShellWords.quote(command))"]
        guard let outcome = try await Self.execute(ExternalTool.ssh, arguments, timeout: timeout) else {
            throw SSHChannelError(
                kind: .commandTimedOut(command: command), seconds: (ContinuousClock.now - start).seconds, standardError: "")
        }
        let seconds = (ContinuousClock.now - start).seconds
        let masterConnected = masterProcessID != nil && masterState.exit.withLock({ $0 }) == nil
        guard let status = outcome.status, status != 255 || (outcome.standardError.isEmpty && masterConnected) else {
            throw SSHChannelError(kind: .connectionFailed, seconds: seconds, standardError: outcome.standardError)
        }
        // ssh exits 255 both when the connection fails and, silently, when the remote
        // command is killed by a signal (`vmtest-reboot` ends its test's process group
        // with SIGKILL): with the master still connected and nothing said, it is the latter.
        return CommandResult(
            exitStatus: status, standardOutput: outcome.standardOutput, standardError: outcome.standardError, seconds: seconds)
    }

    /// Copies a local file, or a folder with everything in it, to `path` in the guest with scp.
    public func copy(local: URL, toGuest path: String, timeout: Duration = .seconds(300)) async throws {
        let start = ContinuousClock.now
        let arguments =
            commonOptions + [
                "-o", "ControlMaster=no", "-P", String(endpoint.port), "-q", "-p", "-r", local.path, "\(endpoint.host):\(path)",
            ]
        let outcome = try await Self.execute(ExternalTool.scp, arguments, timeout: timeout)
        guard let outcome, outcome.status == 0 else {
            throw SSHChannelError(
                kind: .copyFailed(local: local.path, guest: path), seconds: (ContinuousClock.now - start).seconds,
                standardError: outcome?.standardError ?? "timed out after \(Int(timeout.seconds)) s")
        }
    }

    // MARK: Processes

    struct Outcome: Sendable {
        /// nil when the process died from a signal.
        var status: Int32?
        var standardOutput: String
        var standardError: String
    }

    /// Runs a tool to completion; nil when `timeout` passed first (the process is then
    /// killed).
    static func execute(_ tool: ExternalTool, _ arguments: [String], timeout: Duration) async throws -> Outcome? {
        let executable = try tool.resolved()
        return try await withThrowingTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                let result = try await Subprocess.run(
                    .path(FilePath(executable)),
                    arguments: Arguments(arguments),
                    input: .none,
                    output: .string(limit: 64 << 20),
                    error: .string(limit: 16 << 20))
                var status: Int32?
                if case .exited(let code) = result.terminationStatus { status = code }
                return Outcome(status: status, standardOutput: result.standardOutput, standardError: result.standardError)
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}

extension SSHChannel: GuestChannel {}
