import ArgumentParser
import Foundation
import VMTest

struct BootCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "boot",
        abstract: "Boot a profile's guest on a throw-away overlay, run a command in it, tear it down.",
        discussion: "Exits with the guest command's exit status; 2 for bad input, 3 when the guest could not be booted or reached.")

    @OptionGroup var global: GlobalOptions
    @OptionGroup var acceleration: AcceleratorOptions

    @Argument(help: "Profile name or path to a profile file.", completion: profileNameCompletion)
    var profile: String

    @Option(help: "Seconds to wait for the guest's console shell (default: 300 under TCG, 90 under KVM).")
    var timeout: Int?

    @Flag(help: "Print the domain XML it would boot, and boot nothing.")
    var dryRun = false

    @Flag(help: "Boot from the kernel instead of restoring the profile's saved ready state.")
    var cold = false

    @Argument(parsing: .postTerminator, help: "Command to run in the guest (after --).")
    var command: [String] = []

    func run() async throws {
        let global = global
        let profileName = profile
        let timeout = timeout
        let dryRun = dryRun
        let cold = cold
        let command = command
        let acceleration = acceleration.request
        try await runReportingErrors {
            let profile = try global.catalog.load(profileName)
            let launcher = GuestLauncher(reporter: LineReporter())
            if dryRun {
                print(try await BootPlan.dryRun(profile: profile, launcher: launcher, connectURI: global.connectURI, request: acceleration))
                return ExitStatus.success
            }
            var options = LaunchOptions(connectURI: global.connectURI, readyTimeout: timeout.map { .seconds($0) })
            options.cold = cold
            options.accelerator = acceleration
            let guestCommand = ShellWords.join(command)
            return try await launcher.withGuest(profile, options: options) { guest in
                guard let guestCommand else {
                    try await InteractiveConsole.attach(to: guest)
                    return ExitStatus.success
                }
                let result = try await guest.shell.run(guestCommand, timeout: .seconds(3600))
                FileHandle.standardOutput.writeIfOpen(result.standardOutput)
                FileHandle.standardError.writeIfOpen(result.standardError)
                return result.exitStatus
            }
        }
    }
}
