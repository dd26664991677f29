import ArgumentParser
import Foundation
import VMTest

struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Show what this host can do for vmtest: KVM, QEMU, firmware, libvirt, tools, disk space.",
        discussion: """
            Exits 0 when the default profile (\(Doctor.defaultProfile.profile)) can run here, \
            \(ExitStatus.infrastructure) when something it needs is missing.
            """)

    @Option(name: .customLong("connect"), help: "libvirt URI to try (default: libvirt's embedded QEMU driver, no daemon needed).")
    var connectURI: String?

    func run() async throws {
        let uri = connectURI
        try await runReportingErrors {
            let facts = await HostFacts.gather(connectURI: uri, directories: .standard())
            let report = Doctor.examine(facts)
            print(report.table(), terminator: "")
            return report.exitStatus
        }
    }
}
