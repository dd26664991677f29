import Foundation

/// Makes a guest reachable over SSH: a seed and a key before boot, then (once the guest
/// runs) cloud-init's end, the guest's host key pinned, and a connection.
///
/// ```swift
/// let prepared = try await Provisioner().prepare(profile: profile, runID: runID, runDirectory: dir)
/// defer { prepared.release() }
/// var options = prepared.launchOptions(base)
/// options.runID = runID
/// try await launcher.withGuest(profile, options: options) { guest in
///     let ssh = try await prepared.finish(guest: guest)
///     do {
///         ... try await ssh.run("uname -m", timeout: .seconds(60)) ...
///     } catch {
///         await ssh.close()
///         throw error
///     }
///     await ssh.close()   // before the guest goes: no ssh process outlives it
/// }
/// ```
///
/// Everything it writes lives in the run directory the caller owns (and deletes at
/// teardown); the one thing outside it, the port's lock, goes with ``PreparedGuest/release()``.
public struct Provisioner: Sendable {
    public var templatesDirectory: URL
    public var ports: PortAllocator
    public var reporter: any Reporter

    public init(
        templatesDirectory: URL = CloudInitTemplates.standardDirectory(),
        directories: Directories = .standard(),
        reporter: any Reporter = SilentReporter()
    ) {
        self.templatesDirectory = templatesDirectory
        self.ports = PortAllocator(directories: directories)
        self.reporter = reporter
    }

    /// Before boot: a fresh key pair, the NoCloud seed carrying its public half, and a
    /// reserved port for the SSH forward, all for `runID`.
    public func prepare(profile: Profile, runID: String, runDirectory: URL) async throws -> PreparedGuest {
        guard profile.provisioning == .cloudInit else {
            throw ProvisioningError(
                "profile \(profile.name) has `provisioning: \(profile.provisioning.rawValue)`; only cloud-init guests can be provisioned for SSH"
            )
        }
        let start = ContinuousClock.now
        reporter.begin("provision", "SSH key, cloud-init seed, port")
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        let keyPair = try await SSHKeyPair.generate(in: runDirectory, comment: "vmtest-\(runID)")
        let seed = CloudInitSeed(
            instanceID: "vmtest-\(runID)", hostname: profile.name, authorizedKey: keyPair.publicKey,
            templates: try CloudInitTemplates.load(from: templatesDirectory),
            additionalUserData: profile.cloudInitUserData)
        let image = try await seed.write(to: runDirectory)
        let hostKey = try await SSHKeyPair.generate(in: runDirectory, name: "ssh_host_ed25519_key", comment: "root@\(profile.name)")
        let restoredKeys = RestoredKeys(
            authorizedKey: keyPair.publicKey, hostPublicKey: hostKey.publicKey,
            hostPrivateKey: try String(contentsOf: hostKey.privateKey, encoding: .utf8))
        try? FileManager.default.removeItem(at: hostKey.privateKey)
        let port = try ports.reserve()
        reporter.end(
            "provision", seconds: (ContinuousClock.now - start).seconds,
            "seed \(image.lastPathComponent), 127.0.0.1:\(port.port) -> guest :22")
        return PreparedGuest(
            runDirectory: runDirectory, seed: image, warmSeed: Self.warmSeed(like: seed), keyPair: keyPair, restoredKeys: restoredKeys,
            port: port, waitsForCloudInit: profile.cloudInitUserData != nil, reporter: reporter)
    }

    /// The seed a guest is saved with: the run's seed without the run. Its key pair is
    /// thrown away as soon as the seed is written; each restored run installs its own.
    static func warmSeed(like seed: CloudInitSeed) -> WarmSeed {
        var template = seed
        template.instanceID = "vmtest-saved"
        template.authorizedKey = ""
        let identity = template
        let description = ((try? identity.render()) ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key):\n\($0.value)" }.joined(
            separator: "\n")
        return WarmSeed(identity: description) { directory in
            let throwaway = try await SSHKeyPair.generate(in: directory, name: "throwaway", comment: "vmtest-saved")
            try? FileManager.default.removeItem(at: throwaway.privateKey)
            try? FileManager.default.removeItem(at: throwaway.publicKeyFile)
            var saved = identity
            saved.authorizedKey = throwaway.publicKey
            return try await saved.write(to: directory)
        }
    }
}

/// A run's provisioning between ``Provisioner/prepare(profile:runID:runDirectory:)``
/// and the guest's end.
public final class PreparedGuest: Sendable {
    public let runDirectory: URL
    /// `seed.iso`, to attach as the guest's seed disk.
    public let seed: URL
    /// The seed a saved guest boots with (see ``WarmSeed``).
    public let warmSeed: WarmSeed
    public let keyPair: SSHKeyPair
    /// What a restored guest is given instead of the keys cloud-init made before the save.
    let restoredKeys: RestoredKeys
    public let port: PortReservation
    /// Whether a booted guest is ready only once cloud-init has finished: when the
    /// profile adds cloud-config of its own, which the tests may rely on. Otherwise SSH
    /// needs only what cloud-init's first stage makes (``waitForSSHD(guest:timeout:)``).
    public let waitsForCloudInit: Bool
    let reporter: any Reporter

    /// Where the pinned host key goes.
    public var knownHosts: URL { runDirectory.appendingPathComponent("known_hosts") }

    init(
        runDirectory: URL, seed: URL, warmSeed: WarmSeed, keyPair: SSHKeyPair, restoredKeys: RestoredKeys, port: PortReservation,
        waitsForCloudInit: Bool, reporter: any Reporter
    ) {
        self.runDirectory = runDirectory
        self.seed = seed
        self.warmSeed = warmSeed
        self.keyPair = keyPair
        self.restoredKeys = restoredKeys
        self.port = port
        self.waitsForCloudInit = waitsForCloudInit
        self.reporter = reporter
    }

    /// `options` with the seed attached, the SSH port forwarded and, for a restored guest,
    /// the run's keys in its set-up.
    public func launchOptions(_ options: LaunchOptions = LaunchOptions()) -> LaunchOptions {
        var options = options
        options.setUp.whenRestored.append(restoredKeys.installCommand)
        options.seed = seed
        options.warmSeed = warmSeed
        options.sshForwardPort = port.port
        return options
    }

    /// The phase a booted guest's provisioning is timed as.
    public var readinessPhase: String { waitsForCloudInit ? "cloud-init" : "sshd" }

    /// After boot, what SSH needs: for a booted guest sshd with cloud-init's keys, or
    /// cloud-init's end (``waitsForCloudInit``). A restored one (whose cloud-init ended
    /// before it was saved) got the run's keys with its set-up.
    public func provision(guest: Guest, cloudInitTimeout: Duration = .seconds(600)) async throws {
        guard !guest.start.isWarm else { return }
        if waitsForCloudInit {
            try await waitForCloudInit(guest: guest, timeout: cloudInitTimeout)
        } else {
            try await waitForSSHD(guest: guest, timeout: cloudInitTimeout)
        }
    }

    /// Readiness of a booted guest for SSH: cloud-init's first stage has made the host key
    /// and given root the run's key, and sshd runs (the image has no host key of its own,
    /// so one there is cloud-init's). Its later stages go on meanwhile: a cold SSH run
    /// under TCG waited 31 s of its 66 s for them, needing nothing they do.
    public func waitForSSHD(guest: Guest, timeout: Duration) async throws {
        let start = ContinuousClock.now
        reporter.begin("sshd", "waiting for sshd with cloud-init's keys")
        // One command that waits in the guest: the console carries nothing meanwhile.
        let ready = [
            "[ -s /etc/ssh/ssh_host_ed25519_key.pub ]", "[ -s /root/.ssh/authorized_keys ]", "systemctl -q is-active ssh sshd",
        ].joined(separator: " && ")
        do {
            _ = try await guest.shell.run("until \(ready); do sleep 0.25; done", timeout: timeout)
        } catch let error as GuestChannelError where error.kind != .consoleClosed {
            let status = try? await guest.shell.run("cloud-init status --long; systemctl --no-pager status ssh", timeout: .seconds(60))
            throw ProvisioningError(
                "sshd did not start with cloud-init's keys within \(Int(timeout.seconds)) s",
                detail: ((status?.standardOutput ?? "") + (status?.standardError ?? "")).split(separator: "\n").suffix(30).map(String.init),
                fix: "look at /var/log/cloud-init.log in the guest (`vmtest run --keep` keeps it running)")
        }
        reporter.end("sshd", seconds: (ContinuousClock.now - start).seconds, "running with the run's key")
    }

    /// After boot: waits for cloud-init over the console, pins the host key it made,
    /// and opens the SSH connection. The caller closes the channel
    /// (``SSHChannel/close()``) before the guest goes.
    ///
    /// - Parameters:
    ///   - cloudInitTimeout: cloud-init under TCG takes 60-120 s after the console
    ///     answers, more on a busy machine.
    public func finish(guest: Guest, cloudInitTimeout: Duration = .seconds(600), sshTimeout: Duration = .seconds(120)) async throws
        -> SSHChannel
    {
        try await provision(guest: guest, cloudInitTimeout: cloudInitTimeout)
        return try await connect(guest: guest, timeout: sshTimeout)
    }

    /// Readiness of a provisioned guest: cloud-init has finished, seen over the console.
    public func waitForCloudInit(guest: Guest, timeout: Duration = .seconds(600)) async throws {
        let start = ContinuousClock.now
        reporter.begin("cloud-init", "waiting for cloud-init to finish")
        let status = try await CloudInitReadiness.wait(on: guest.shell, timeout: timeout)
        reporter.end("cloud-init", seconds: (ContinuousClock.now - start).seconds, "\(status.status) (\(status.detail))")
    }

    /// Pins the guest's host key (the one cloud-init made, read over the console, or the
    /// one a restored guest was given) and opens the SSH connection; call after
    /// ``provision(guest:cloudInitTimeout:)``.
    public func connect(guest: Guest, timeout sshTimeout: Duration = .seconds(120)) async throws -> SSHChannel {
        let start = ContinuousClock.now
        let jump: SSHJump? = if case .jump(let jump) = guest.plan.placement.hypervisor.sshRoute { jump } else { nil }
        reporter.begin(
            "ssh", "pinning the host key, connecting to 127.0.0.1:\(port.port)" + (jump.map { " on \($0.host), through it" } ?? ""))
        let hostKey = try await guest.start.isWarm ? restoredKeys.hostKey : HostKeyPin.read(from: guest.shell)
        let endpoint = SSHEndpoint(
            port: port.port, identity: keyPair.privateKey, knownHosts: knownHosts,
            controlPath: runDirectory.appendingPathComponent("ssh.sock"), jump: jump)
        try HostKeyPin.write(hostKey, for: endpoint)
        let channel = SSHChannel(endpoint: endpoint)
        do {
            try await channel.connect(timeout: sshTimeout)
        } catch {
            // Cancelled (Ctrl-C) or failed half-way: no master may be left running.
            await channel.close()
            throw error
        }
        reporter.end("ssh", seconds: (ContinuousClock.now - start).seconds, "connected, host key \(hostKey.type) pinned")
        return channel
    }

    /// Gives up the reserved port; call once the guest is destroyed. Idempotent.
    public func release() { port.release() }
}

/// Trusting a guest's SSH host key because the console said so.
///
/// The console is out of band: it reaches the guest through the hypervisor, not the
/// network, so what it reads is the guest's own key, not whatever answers on the port.
public enum HostKeyPin {
    public struct HostKey: Sendable, Hashable {
        /// `ssh-ed25519`.
        public var type: String
        /// The key's base64 blob.
        public var base64: String
    }

    /// Reads `/etc/ssh/ssh_host_ed25519_key.pub` over the console.
    public static func read(from shell: GuestShell, path: String = "/etc/ssh/ssh_host_ed25519_key.pub") async throws -> HostKey {
        let result = try await shell.run("cat \(path)", timeout: .seconds(60))
        guard result.exitStatus == 0, let key = parse(result.standardOutput) else {
            throw ProvisioningError(
                "cannot read the guest's SSH host key \(path) over the console (exit status \(result.exitStatus))",
                detail: (result.standardOutput + result.standardError).split(separator: "\n").map(String.init),
                fix: "cloud-init makes it at first boot (`ssh_genkeytypes: [ed25519]`); check /var/log/cloud-init.log")
        }
        return key
    }

    /// Parses a public key line (`ssh-ed25519 AAAA... root@host`).
    public static func parse(_ line: String) -> HostKey? {
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
        guard fields.count >= 2, fields[0] == "ssh-ed25519", let blob = Data(base64Encoded: String(fields[1])),
            // An ed25519 blob: string "ssh-ed25519" then the 32-byte key, each length-prefixed.
            blob.count == 4 + 11 + 4 + 32
        else { return nil }
        return HostKey(type: String(fields[0]), base64: String(fields[1]))
    }

    /// The known_hosts line for `key` at `endpoint`.
    public static func knownHostsLine(_ key: HostKey, for endpoint: SSHEndpoint) -> String {
        "\(endpoint.knownHostsName) \(key.type) \(key.base64)\n"
    }

    /// Writes a known_hosts file holding this one key.
    public static func write(_ key: HostKey, for endpoint: SSHEndpoint) throws {
        try knownHostsLine(key, for: endpoint).write(to: endpoint.knownHosts, atomically: true, encoding: .utf8)
    }
}
