/// A way to run commands in a guest: the console shell, or SSH.
///
/// Both give the same contract: a command's exit status and its two output streams,
/// with a non-zero exit as a result and only a broken channel as an error.
public protocol GuestChannel: Sendable {
    func run(_ command: String, timeout: Duration) async throws -> CommandResult
}

extension GuestShell: GuestChannel {}

/// Which channel a run uses for commands and files.
public enum ChannelKind: String, Sendable, Hashable, Codable, CaseIterable, YAMLChoice {
    /// The console shell: 4 ms per command, files on an extra read-only disk.
    case serial
    /// OpenSSH over a forwarded port: files by scp; about 0.8 s per new connection under TCG.
    case ssh
}
