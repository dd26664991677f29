import ArgumentParser
import Foundation
import VMTest

struct CleanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clean",
        abstract: "Remove guests, overlays and libvirt state left by vmtest processes that died.")

    @OptionGroup var global: GlobalOptions

    @Flag(help: "Also remove guests kept running with --keep.")
    var kept = false

    func run() async throws {
        let uri = global.connectURI
        let kept = kept
        try await runReportingErrors {
            let reaper = LeftoverReaper(directories: .standard())
            let reaped =
                if let uri { try await reaper.reap(connectURI: uri, includingKept: kept) } else { await reaper.reap(includingKept: kept) }
            print(
                reaped.isEmpty
                    ? "nothing left behind"
                    : """
                    removed \(reaped.runs.count) run(s), \(reaped.embeddedRoots.count) embedded libvirt root(s), \
                    killed \(reaped.killedProcesses.count) QEMU process(es), destroyed \(reaped.domains.count) domain(s), \
                    deleted \(reaped.volumes.count) volume(s)
                    """)
            return ExitStatus.success
        }
    }
}
