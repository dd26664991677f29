import ArgumentParser
import Foundation
import Libvirt
import VMTest

@main
struct VMTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vmtest",
        abstract: "Test packages inside throw-away 32-bit Arm virtual machines.",
        subcommands: [
            RunCommand.self, NightlyCommand.self, BootCommand.self, ImageCommand.self, ProfilesCommand.self, CleanCommand.self,
            WorkaroundsCommand.self, DoctorCommand.self,
        ])

    @Flag(name: .customLong("version"), help: "Print vmtest's version and the libvirt and QEMU versions it will use.")
    var version = false

    func run() async throws {
        guard version else { throw CleanExit.helpRequest(self) }
        print(await VersionReport.gather().text, terminator: "")
    }

    /// Like the default, except that usage errors exit with vmtest's "bad input" status
    /// (2) instead of EX_USAGE (64): one status for every input problem is what CI needs.
    static func main() async {
        // A closed pipe on stdout or stderr (`vmtest run ... | head`) is a write error the
        // reporters handle, not a signal that kills the process before its guest is torn down.
        signal(SIGPIPE, SIG_IGN)
        MallocSettings.apply()
        LoaderData.release()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.writeIfOpen((fullMessage(for: error) + "\n"))
                Foundation.exit(ExitStatus.badInput)
            }
            exit(withError: error)
        }
    }
}

/// Options every command that touches guests shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .customLong("connect"), help: "libvirt URI (default: libvirt's embedded QEMU driver, no daemon needed).")
    var connectURI: String?

    @Option(help: ArgumentHelp(profilesHelp), completion: .directory)
    var profiles: String?

    var catalog: ProfileCatalog {
        .standard(option: profiles.map { URL(fileURLWithPath: $0) })
    }
}

/// The help of every `--profiles` option.
let profilesHelp = """
    Directory of profiles, searched first; then $VMTEST_PROFILES, ./profiles, ~/.config/vmtest/profiles, \
    /etc/vmtest/profiles, the installed share/vmtest/profiles, the source tree's.
    """

/// Completes a profile argument with the names the standard search order finds
/// (the shell runs `vmtest` itself to ask).
let profileNameCompletion = CompletionKind.custom { _, _, prefix in
    ProfileCatalog.standard().names().filter { $0.hasPrefix(prefix) }
}

/// Runs a command body and turns what it throws into a message and vmtest's exit status.
func runReportingErrors(_ body: @escaping @Sendable () async throws -> Int32) async throws {
    let status: Int32
    do {
        status = try await withSignalCancellation(body)
    } catch {
        FileHandle.standardError.writeIfOpen("vmtest: \(error)\n")
        status = ExitStatus.for(error)
    }
    await Hypervisor.closeAll(directories: .standard())
    if status != 0 { throw ExitCode(status) }
}
