/// `vmtest run --update`: the installed system upgraded from the run's served repository
/// (test case `update`), booted again when what changed needs it (or `--reboot` says so),
/// and checked to have come back healthy (test case `health`), before the tests run.
struct SystemUpdate: Sendable {
    let prepared: PreparedRun
    let session: RunSession
    let reboots: TestReboots

    /// What the update changed, by package name; nil when it failed (the rest of the run
    /// is then skipped, as after a failed install).
    func run(on channel: inout any GuestChannel) async throws -> [String]? {
        let updates = prepared.inputs.updates
        let before = try await installed(on: channel)
        // The kernel before, for the health check's "running" after a reboot to compare with.
        var commands = [#"echo "running kernel: $(uname -r)""#]
        if !updates.debs.isEmpty { commands.append(PackageTestRunner.apt("full-upgrade")) }
        if !updates.rpms.isEmpty, let update = prepared.profile.update { commands.append(update) }
        let result = try await session.test(
            kind: .update, name: "update", command: commands.joined(separator: "\n"), on: channel)
        guard result.verdict == .passed else {
            session.skipRemaining(because: "the update failed")
            return nil
        }
        let changed = try await installed(on: channel).changed(since: before)
        session.reporter.note(
            changed.isEmpty ? "the update changed no package" : "the update changed \(changed.count): \(changed.joined(separator: ", "))")
        let kernelChanged = changed.contains(where: UpdateReboot.kernel)
        if let reason = prepared.inputs.request.rebootAfterUpdate ? "--reboot" : UpdateReboot.reason(changed: changed) {
            session.reporter.note("rebooting after the update: \(reason)")
            channel = try await reboots.rebootNow(on: channel, session: session)
        }
        var checks = [Self.systemHealth]
        if kernelChanged {
            switch prepared.profile.boot.method {
            case .uBoot:
                checks.append(Self.newestKernelRunning)
            case .directKernel:
                let note =
                    "a kernel update was installed but not booted: profile \(prepared.profile.name) boots a kernel from outside its disk"
                session.reporter.note(note)
                checks.append("echo \(ShellWords.quote(note))")
            }
        }
        _ = try await session.test(
            kind: .health, name: "health", command: (["healthy=0"] + checks + ["exit $healthy"]).joined(separator: "\n"), on: channel)
        return changed
    }

    private func installed(on channel: any GuestChannel) async throws -> InstalledVersions {
        let listing = try await channel.run(InstalledVersions.query, timeout: prepared.testTimeout)
        guard listing.succeeded else { throw GuestStepError(step: "listing the installed packages", result: listing) }
        return InstalledVersions(listing: listing.standardOutput)
    }

    /// systemd's own verdict once it has finished starting: `running`, or `degraded` with
    /// the failed units named and the last lines each logged. Each check sets `healthy=1`
    /// when it fails, so all of them say what they saw.
    static let systemHealth = """
        state=$(systemctl is-system-running --wait 2>/dev/null)
        echo "system: ${state:-unknown}"
        for unit in $(systemctl --failed --no-legend --plain --no-pager 2>/dev/null | cut -d' ' -f1); do
            echo "failed: $unit"; journalctl -b -u "$unit" -n 8 --no-pager 2>/dev/null | sed 's/^/  /'
        done
        [ "$state" = running ] || healthy=1
        """

    /// On a guest that boots its own kernel, the newest one installed is the one running.
    static let newestKernelRunning = """
        running=$(uname -r); newest=$(ls /lib/modules | sort -V | tail -n 1)
        echo "kernel: running $running, newest installed $newest"
        [ "$running" = "$newest" ] || healthy=1
        """
}
