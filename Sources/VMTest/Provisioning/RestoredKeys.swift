import Foundation

/// The keys a restored guest is given in place of its saved ones: the run's authorised
/// key and a host key of its own, made on the host. The saved guest's keys are shared by
/// every run restored from it, and keys made inside a restored guest would come from its
/// restored random state.
struct RestoredKeys: Sendable {
    /// The run's public key line, for root's authorized_keys.
    var authorizedKey: String
    /// `ssh-ed25519 AAAA... root@NAME`.
    var hostPublicKey: String
    /// The host key's private half, in OpenSSH's format; never written on this machine.
    var hostPrivateKey: String

    /// The host key to pin: known before the guest answers, so nothing is read back.
    var hostKey: HostKeyPin.HostKey {
        get throws {
            guard let key = HostKeyPin.parse(hostPublicKey) else {
                throw ProvisioningError("ssh-keygen made a host key vmtest cannot read: \(hostPublicKey)")
            }
            return key
        }
    }

    /// A set-up snippet (``GuestSetUp``) that puts them in place. The modes come from the
    /// umask, not chmod: under TCG each process costs tens of milliseconds of the run. The
    /// last umask (077) holds for the rest of the set-up's shell: whenRestored snippets
    /// come last.
    var installCommand: String {
        [
            "rm -f /etc/ssh/ssh_host_*", "umask 022",
            "printf '%s\\n' \(ShellWords.quote(hostPublicKey)) >/etc/ssh/ssh_host_ed25519_key.pub",
            "umask 077", "{ [ -d /root/.ssh ] || mkdir /root/.ssh; }",
            "printf '%s\\n' \(ShellWords.quote(authorizedKey)) >/root/.ssh/authorized_keys",
            "printf '%s' \(ShellWords.quote(hostPrivateKey)) >/etc/ssh/ssh_host_ed25519_key",
        ].joined(separator: " && ")
    }
}
