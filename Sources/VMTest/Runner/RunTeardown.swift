import Foundation
import Libvirt
import Synchronization

/// What a run has made so far, torn down in reverse and exactly once.
final class RunTeardown: Sendable {
    let runDirectory: URL
    let consoleLog: URL
    let keepSwitch = KeepSwitch()
    private let made = Mutex(Made())

    private struct Made {
        var domain: Domain?
        var uri = ""
        var console: GuestConsole?
        var volumes: RunVolumes?
    }

    init(runDirectory: URL, consoleLog: URL?) {
        self.runDirectory = runDirectory
        self.consoleLog = consoleLog ?? runDirectory.appendingPathComponent("console.log")
    }

    var domain: Domain? { made.withLock { $0.domain } }

    /// The domain was started (or restored) on the hypervisor at `uri`.
    func started(_ domain: Domain, uri: String) {
        made.withLock {
            $0.domain = domain
            $0.uri = uri
        }
    }

    /// The run's files live in volumes on its hypervisor (``RunVolumes``).
    func uses(_ volumes: RunVolumes?) {
        made.withLock { $0.volumes = volumes }
    }

    func opened(_ console: GuestConsole) {
        made.withLock { $0.console = console }
    }

    /// Closes the console opened last, before the domain is started again (a reboot).
    func closeConsole() async {
        let console = made.withLock { made in
            defer { made.console = nil }
            return made.console
        }
        await console?.close()
    }

    /// How the serial console log ends, for a person to read after a failure: downloaded
    /// first from a hypervisor that keeps it in a volume.
    func consoleEnding() async -> ConsoleLogEnding? {
        await made.withLock { $0.volumes }?.downloadConsoleLog()
        return ConsoleLogEnding(contentsOf: consoleLog, lineCount: 20)
    }

    /// Runs to its end even when the task is cancelled (Ctrl-C, a time limit): nothing
    /// below checks for cancellation, and the libvirt call waits on a thread of its own.
    func run(reporter: any Reporter) async {
        let start = ContinuousClock.now
        let made = self.made.withLock { made in
            defer { made = Made() }
            return made
        }
        await made.console?.close()
        if let domain = made.domain, keepSwitch.isKept {
            try? "".write(to: runDirectory.appendingPathComponent(LeftoverReaper.keptFile), atomically: true, encoding: .utf8)
            let uri = made.uri
            let embedded = uri.contains("embed")
            let disk = made.volumes.map { "volume \(RunVolumes.prefix(runID: $0.runID))overlay.qcow2 in pool \(HypervisorStorage.name)" }
            reporter.note(
                "kept \(domain.name) running for debugging; its disk is \(disk ?? "\(runDirectory.path)/overlay.qcow2")\n"
                    + "  attach: virsh -c '\(uri)' console \(domain.name)" + (embedded ? " (once this vmtest has exited)" : "") + "\n"
                    + "  remove: vmtest clean --kept" + (embedded ? "" : " --connect '\(uri)'"))
            return
        }
        if let domain = made.domain, !domain.connection.isAlive {
            reporter.note(
                "could not destroy \(domain.name): the connection to its hypervisor is gone"
                    + " (`vmtest clean --connect '\(made.uri)'` removes it and its volumes once the hypervisor is back)")
            try? FileManager.default.removeItem(at: runDirectory)
            return
        }
        if let domain = made.domain {
            do {
                _ = try await domain.destroyIfRunning()
            } catch {
                reporter.note("could not destroy \(domain.name): \(error)")
            }
        }
        if let volumes = made.volumes {
            await volumes.downloadConsoleLog()
            await volumes.remove()
        }
        try? FileManager.default.removeItem(at: runDirectory)
        reporter.end("teardown", seconds: (ContinuousClock.now - start).seconds, "guest destroyed, overlay removed")
    }
}
