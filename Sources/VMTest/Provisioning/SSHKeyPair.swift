import Foundation

/// A fresh ed25519 key pair for one run, made with `ssh-keygen`.
///
/// The private key lives in the run directory with mode 0600 (OpenSSH refuses a key
/// others can read) and goes when the directory's owner deletes it at teardown. No
/// passphrase: the key authorises root in one throw-away guest and nothing else.
public struct SSHKeyPair: Sendable, Hashable {
    public let privateKey: URL
    public var publicKeyFile: URL { URL(fileURLWithPath: privateKey.path + ".pub") }
    /// The public key line, `ssh-ed25519 AAAA... comment`.
    public let publicKey: String

    /// Makes `directory/NAME` and `directory/NAME.pub`, replacing any earlier pair.
    public static func generate(in directory: URL, name: String = "id_ed25519", comment: String) async throws -> SSHKeyPair {
        let privateKey = directory.appendingPathComponent(name)
        try? FileManager.default.removeItem(at: privateKey)
        try? FileManager.default.removeItem(atPath: privateKey.path + ".pub")
        try await ExternalTool.sshKeygen.run(["-t", "ed25519", "-N", "", "-q", "-C", comment, "-f", privateKey.path])
        // ssh-keygen already writes 0600; stated here so it never depends on its umask.
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: privateKey.path)
        let line = try String(contentsOfFile: privateKey.path + ".pub", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return SSHKeyPair(privateKey: privateKey, publicKey: line)
    }
}
