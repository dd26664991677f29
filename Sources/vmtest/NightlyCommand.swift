import ArgumentParser
import Foundation
import VMTest

struct NightlyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nightly",
        abstract: "Run a plan: every profile against every package set, spread over the plan's hypervisors, into one report.",
        discussion: """
            Writes every run's own results, junit.xml (one testsuite per run), summary.json, report.md and report.html \
            into the results directory. Exits 0 when everything passed, 1 when a test failed, 3 when only the \
            infrastructure failed (after retries), 2 for a bad plan.
            """)

    @Option(help: ArgumentHelp(profilesHelp), completion: .directory)
    var profiles: String?

    @Argument(
        help:
            "The plan: a YAML file, or a name found in ./plans, ~/.config/vmtest/plans, /etc/vmtest/plans, the installed share/vmtest/plans."
    )
    var plan: String

    @Option(help: "Guests to run at once, at most (also bounded by the hypervisors' capacity and this host's memory).")
    var parallel = 1

    @Option(help: "Results directory (default: ./vmtest-results/nightly-PLAN-TIME).")
    var results: String?

    @Flag(help: "Boot every guest from its kernel instead of restoring saved states.")
    var cold = false

    @OptionGroup var acceleration: AcceleratorOptions

    @Flag(help: "Print the matrix and the hypervisors, and run nothing.")
    var dryRun = false

    func validate() throws {
        if parallel < 1 { throw ValidationError("--parallel must be at least 1") }
    }

    func run() async throws {
        let catalog = ProfileCatalog.standard(option: profiles.map { URL(fileURLWithPath: $0) })
        let file = DataSearchPath.standard().plan(plan) ?? URL(fileURLWithPath: plan)
        let parallel = parallel
        let results = results
        let cold = cold
        let dryRun = dryRun
        let acceleration = acceleration.request
        try await runReportingErrors {
            var (plan, sets) = try PlanLoader.load(file: file, catalog: catalog)
            // The command line wins over the plan, field by field.
            plan.accelerator = AcceleratorRequest(
                accelerator: acceleration.accelerator ?? plan.accelerator.accelerator,
                guestKernel: acceleration.guestKernel ?? plan.accelerator.guestKernel)
            if dryRun {
                for profile in plan.profiles {
                    for set in sets { print("\(profile)\t\(set.name)\t\(set.rpms.joined(separator: " "))") }
                }
                for hypervisor in plan.hypervisors { print("hypervisor\t\(hypervisor.uri)\tcapacity \(hypervisor.capacity)") }
                return ExitStatus.success
            }
            let folder = URL(fileURLWithPath: results ?? "vmtest-results/nightly-\(plan.name)-\(GuestLauncher.newRunID())")
            var runner = NightlyRunner(
                plan: plan, packageSets: sets, catalog: catalog, parallel: parallel, results: folder, progress: NightlyProgress())
            runner.cold = cold
            return try await runner.run().exitStatus
        }
    }
}
