import Foundation
import Testing

@testable import VMTest

/// A guest's decisions are made once, into a ``GuestPlan``: the launcher adds the run's
/// files and nothing else.
@Suite struct GuestPlanTests {
    static let directories = Directories(cache: URL(fileURLWithPath: "/cache"), state: URL(fileURLWithPath: "/state"))

    /// A TCG placement on libvirt's test driver: no QEMU, no judging of a real host.
    static func placement() async throws -> Placement {
        let host = HostMachine(architecture: "x86_64", kvmUsable: false, kvmRunsAArch32: nil)
        return Placement(
            hypervisor: try await Hypervisor.connect(uri: "test:///default", directories: directories), host: host,
            mode: try AcceleratorChoice.choose(for: .armv7l, on: host), request: .automatic)
    }

    /// Run names sort by their UTC start time, and two runs started in the same second differ.
    @Test func aRunIDIsItsUTCStartTimeAndARandomTail() {
        let started = Date(timeIntervalSince1970: 1_796_196_322.75)
        let first = GuestLauncher.newRunID(at: started)
        let second = GuestLauncher.newRunID(at: started)
        #expect(first.hasPrefix("20261202-072522-"), "\(first)")
        #expect(first.split(separator: "-").count == 3 && first.count > "20261202-072522-".count, "\(first)")
        #expect(first != second)
    }

    @Test func theWorkaroundsAreAppliedOnceToTheDomainThePlanBoots() async throws {
        var profile = try ProfileLoaderTests.catalog.load("debian12-armhf")
        profile.memory = 4096
        profile.cpus = 2
        let java = InstalledPackage(name: "hello-java", requires: ["java-17-openjdk-headless"])
        let plan = try await GuestLauncher(directories: Self.directories).plan(
            profile, on: try await Self.placement(), image: DomainXMLTests.image, runID: "R",
            workarounds: try WorkaroundSelection(forced: ["java-single-cpu"]), packages: [java])

        #expect(plan.appliedWorkarounds.map(\.name) == ["armv7-highmem", "java-single-cpu"])
        #expect(plan.definition.memoryMiB == Workaround.armv7LowMemoryLimitMiB)
        #expect(plan.definition.cpus == 1)
        #expect(plan.testEnvironment.isEmpty, "java-interpreter-only is off unless forced")
        #expect(plan.definition.name == "vmtest-R")
        #expect(plan.runDirectory == Self.directories.runs.appendingPathComponent("R"))

        // What the launcher attaches changes the disks, port and log, never a decision.
        var options = LaunchOptions(seed: URL(fileURLWithPath: "/run/R/seed.iso"), sshForwardPort: 40022)
        options.payload = URL(fileURLWithPath: "/tmp/payload.tar")
        options.consoleLog = URL(fileURLWithPath: "/results/console.log")
        let attached = plan.definition(attaching: options)
        #expect(attached.disks.map(\.path) == ["/state/runs/R/overlay.qcow2", "/run/R/seed.iso", "/tmp/payload.tar"])
        #expect(attached.disks.map(\.kind) == [.qcow2Overlay, .readOnlyImage, .payload])
        #expect(attached.sshForwardPort == 40022 && attached.consoleLog == "/results/console.log")
        #expect(attached.memoryMiB == plan.definition.memoryMiB && attached.cpus == 1 && attached.cpuTune == plan.definition.cpuTune)
    }

    @Test func aPreparedRunTakesItsLimitsFromThePlansAccelerator() async throws {
        let profile = try ProfileLoaderTests.catalog.load("debian12-armhf")
        let plan = try await GuestLauncher(directories: Self.directories).plan(
            profile, on: try await Self.placement(), image: DomainXMLTests.image, runID: "R", workarounds: .none, packages: [])
        let results = URL(fileURLWithPath: "/results")
        var request = RunRequest(profile: profile, commands: ["true"])
        let inputs = RunInputs(
            request: request, runID: "R", packages: [], testScripts: [], channel: .serial, results: results, workarounds: .none)
        let prepared = PreparedRun(inputs: inputs, guest: plan)
        #expect(prepared.timeout == .seconds(1800) && prepared.testTimeout == .seconds(600), "TCG: the slow defaults")
        request.timeout = .seconds(60)
        let limited = PreparedRun(
            inputs: RunInputs(
                request: request, runID: "R", packages: [], testScripts: [], channel: .serial,
                results: results, workarounds: .none), guest: plan)
        #expect(limited.timeout == .seconds(60))
        #expect(limited.connection == "test:///default", "reports name the hypervisor the run was decided for")
    }
}
