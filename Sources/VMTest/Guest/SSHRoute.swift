import Foundation

/// How an SSH channel reaches a guest whose SSH port QEMU forwards on its hypervisor's
/// loopback (127.0.0.1:PORT there): decided once, from the URI vmtest connects with.
public enum SSHRoute: Sendable, Hashable {
    /// The hypervisor is this machine (the embedded driver, a local daemon): its
    /// loopback is ours.
    case direct
    /// Through the hypervisor, over the SSH login libvirt itself uses for a
    /// `qemu+ssh://` URI.
    case jump(SSHJump)
    /// No SSH login to the hypervisor is known (`qemu+tcp://`, `qemu+tls://` to another
    /// machine): its loopback is out of reach, and the serial console is the way in.
    case unreachable

    public init(connectURI: String?) {
        guard let uri = connectURI, !Hypervisor.isOnThisMachine(uri) else {
            self = .direct
            return
        }
        self = SSHJump(uri: uri).map(Self.jump) ?? .unreachable
    }
}

/// The hypervisor's SSH login as a `qemu+ssh://[USER@]HOST[:PORT]/...?keyfile=PATH`
/// URI gives it to libvirt, used the way libvirt uses it: the user's own `ssh`, with
/// their configuration and known hosts (which `no_verify=1` skips, as it does for libvirt).
public struct SSHJump: Sendable, Hashable {
    public var host: String
    public var port: Int?
    public var user: String?
    /// The URI's `keyfile`.
    public var identity: String?
    /// The URI's `no_verify=1`: the hypervisor's host key is not checked.
    public var skipsHostKeyCheck: Bool

    /// Nil unless `uri` is a `+ssh` URI naming a host.
    public init?(uri: String) {
        guard let parts = URLComponents(string: uri), parts.scheme?.hasSuffix("+ssh") == true,
            let host = parts.host, !host.isEmpty
        else { return nil }
        let query = Dictionary((parts.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, last in last })
        self.host = host
        port = parts.port
        user = parts.user
        identity = query["keyfile"].flatMap { $0.isEmpty ? nil : $0 }
        skipsHostKeyCheck = query["no_verify"] == "1"
    }

    /// The ssh command that carries one TCP connection to `%h:%p` (the guest's port on the
    /// hypervisor's loopback) through the hypervisor: an OpenSSH `ProxyCommand`.
    public var proxyCommand: String {
        var words = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=30"]
        if let port { words += ["-p", String(port)] }
        if let user { words += ["-l", user] }
        if let identity { words += ["-i", identity] }
        if skipsHostKeyCheck { words += ["-o", "StrictHostKeyChecking=no"] }
        words += ["-W", "%h:%p", host]
        return words.map(ShellWords.quote).joined(separator: " ")
    }
}
