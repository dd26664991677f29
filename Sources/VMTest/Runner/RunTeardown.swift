import Foundation
import Libvirt
import Synchronization

/// What a run has made so far, torn down in reverse and exactly once.
final class RunTeardown: @unchecked Sendable {
    let runDirectory: URL
    let consoleLog: URL
    var domain: Domain?
    var uri = ""
    var console: ConsoleStream?
    var shell: GuestShell?
    let keepSwitch = KeepSwitch()

    init(runDirectory: URL, consoleLog: URL?) {
        self.runDirectory = runDirectory
        self.consoleLog = consoleLog ?? runDirectory.appendingPathComponent("console.log")
    }

    func consoleTail(lines: Int = 20) -> [String] {
        guard let text = try? String(contentsOf: consoleLog, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").suffix(lines).map { $0.replacingOccurrences(of: "\r", with: "") }
    }

    /// Synchronous libvirt calls only after the first await, so cancellation cannot cut it short.
    func run(reporter: any Reporter) async {
        let start = ContinuousClock.now
        await shell?.stop()
        console?.close()
        if let domain, keepSwitch.isKept {
            try? "".write(to: runDirectory.appendingPathComponent(LeftoverReaper.keptFile), atomically: true, encoding: .utf8)
            let embedded = uri.contains("embed")
            reporter.note(
                "kept \(domain.name) running for debugging; its disk is \(runDirectory.path)/overlay.qcow2\n"
                    + "  attach: virsh -c '\(uri)' console \(domain.name)" + (embedded ? " (once this vmtest has exited)" : "") + "\n"
                    + "  remove: vmtest clean --kept" + (embedded ? "" : " --connect '\(uri)'"))
            self.domain = nil
            return
        }
        if let domain {
            do {
                _ = try domain.destroyIfRunning()
            } catch {
                reporter.note("could not destroy \(domain.name): \(error)")
            }
        }
        domain = nil
        console = nil
        shell = nil
        try? FileManager.default.removeItem(at: runDirectory)
        reporter.end("teardown", seconds: (ContinuousClock.now - start).seconds, "guest destroyed, overlay removed")
    }
}
