import ArgumentParser
import Foundation
import VMTest

@main
struct VMTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vmtest",
        abstract: "Test packages inside throw-away 32-bit Arm virtual machines.",
        subcommands: [BootCommand.self, ImageCommand.self, ProfilesCommand.self])
}

/// Options every command that touches guests shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("connect"), help: "libvirt URI (default: libvirt's embedded QEMU driver, no daemon needed).")
    var connectURI: String?

    @Option(help: "Directory of profiles (default: $VMTEST_PROFILES, ./profiles, or the source tree's).")
    var profiles: String?

    var catalog: ProfileCatalog {
        profiles.map { ProfileCatalog(directory: URL(fileURLWithPath: $0)) } ?? .standard()
    }
}

/// Runs a command body and turns what it throws into a message and vmtest's exit status.
func runReportingErrors(_ body: @escaping @Sendable () async throws -> Int32) async throws {
    let status: Int32
    do {
        status = try await withSignalCancellation(body)
    } catch {
        FileHandle.standardError.write(Data("vmtest: \(error)\n".utf8))
        status = ExitStatus.for(error)
    }
    Hypervisor.closeAll(directories: .standard())
    if status != 0 { throw ExitCode(status) }
}
