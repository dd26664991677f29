import Foundation
import Libvirt
import Testing

@testable import VMTest

/// The two kinds of Arm server, for real: emulated aarch64 hosts (`script/arm-host`) whose
/// own KVM runs the guests. A Cortex-A57 host runs AArch32 at EL1, so the guest's own
/// 32-bit kernel runs under KVM; a Cortex-A76 host runs 32-bit code only at EL0, as
/// Neoverse N1 servers do, so a 64-bit guest kernel runs the armhf userland under KVM.
/// Nested guests are slow (the inner guest's code is still emulated by the outer QEMU),
/// hence the generous limits; the code paths (KVM, GIC, vCPU init, libvirt) are the real ones.
@Suite(.serialized, .timeLimit(.minutes(60))) struct EmulatedArmHostTests {
    struct Summary: Decodable {
        var verdict: String
        var accelerator: String?
        var guestKernel: String?
        var acceleratorReason: String?
        var tests: [Test]

        struct Test: Decodable {
            var kind: String
            var name: String
            var verdict: String
            var standardOutput: String
            var message: String?
            var exitStatus: Int32?
        }
    }

    static func summary(in directory: URL) throws -> Summary {
        try JSONDecoder().decode(Summary.self, from: Data(contentsOf: directory.appendingPathComponent("summary.json")))
    }

    /// What each `--test` command printed, in order, without the final newline.
    static func commandOutputs(in results: URL, count: Int) throws -> [String] {
        let tests = try summary(in: results).tests
        return (1...count).map { index in
            guard let test = tests.first(where: { $0.name.hasPrefix("command \(index): ") }) else { return "(no command \(index))" }
            var output = test.standardOutput
            if output.hasSuffix("\n") { output.removeLast() }
            return output
        }
    }

    /// The libvirt URI of the emulated host script/test started for `cpu`
    /// (`script/arm-host start --cpu CPU --name e2e-CPU`, exported as
    /// `VMTEST_ARM_HOST_CORTEX_A57` / `_A76`; stopped by script/test however the tests end).
    static func armHost(_ cpu: String) throws -> String {
        let variable = "VMTEST_ARM_HOST_" + cpu.uppercased().replacingOccurrences(of: "-", with: "_")
        return try #require(
            ProcessInfo.processInfo.environment[variable],
            "start it first: export \(variable)=$(script/arm-host start --cpu \(cpu) --name e2e-\(cpu))")
    }

    /// Runs vmtest against an emulated host, again after a run the nested emulation broke,
    /// until one is not broken or `budget` is spent (no attempt starts after it).
    ///
    /// The nested guest's own failures are the outer QEMU's (TCG emulating EL2 and KVM),
    /// not vmtest's, and frequent on this 2-core machine: a cortex-a57 host's 32-bit guest
    /// kernel printed nothing at all in 450 s, hung halfway through systemd, oopsed (a NULL
    /// dereference in account_system_index_time; "Returning to usermode but unexpected PSR
    /// bits set", bare QEMU's boots too), or stopped answering in the middle of a test, in
    /// about half of its boots (2026-11-30: 2 of 4 with 1 or 2 vCPUs; CI: 1 of 2, later 3 of 3,
    /// each looping on one fault until its 500 s boot limit; 2026-12-03: none of five short
    /// runs with one vCPU, 4 of 7 with two in CI). An oops now panics the guest
    /// kernel (`oops=panic`), so such a boot ends within seconds of it. Such a run ends with
    /// exit 3, with a test timed out, or with a command in the guest killed by a signal (a
    /// Segmentation fault of dnf in CI, exit status 139); any other result is the result.
    static func nested(_ arguments: [String], results: URL?, budget: Duration = .seconds(22 * 60)) async throws -> (
        status: Int32, output: String, error: String
    ) {
        let start = ContinuousClock.now
        var attempt = 1
        while true {
            if let results { try? FileManager.default.removeItem(at: results) }
            let run = try await EndToEnd.vmtest(arguments + (results.map { ["--results", $0.path] } ?? []))
            let crashed =
                results.flatMap {
                    try? summary(in: $0).tests.contains { $0.message?.hasPrefix("timed out") == true || ($0.exitStatus ?? 0) > 128 }
                } ?? false
            let broken = run.status == ExitStatus.infrastructure || (run.status == ExitStatus.testFailed && crashed)
            guard broken, ContinuousClock.now - start < budget else { return run }
            print(
                "nested run \(attempt) broken by the nested emulation (exit \(run.status)), trying again; its last words:\n"
                    + run.error.split(separator: "\n").suffix(15).joined(separator: "\n"))
            attempt += 1
        }
    }

    /// A folder holding debian12-armhf with one vCPU, for the Cortex-A57 host's nested
    /// 32-bit kernel (see ``cortexA57RunsTheGuestsOwn32BitKernelUnderKVM()``).
    static func oneVCPUProfiles() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-one-vcpu-\(getpid())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let shipped = try String(
            contentsOf: EndToEnd.repository.appendingPathComponent("profiles/debian12-armhf.yaml"), encoding: .utf8)
        let one = shipped.replacingOccurrences(of: #"(?m)^cpus: *\d+"#, with: "cpus: 1", options: .regularExpression)
        try #require(one != shipped, "profiles/debian12-armhf.yaml has a `cpus:` line")
        try one.write(to: folder.appendingPathComponent("debian12-armhf.yaml"), atomically: true, encoding: .utf8)
        return folder
    }

    /// Runs vmtest's KVM probe, compiled for arm64 from the very header vmtest's C module
    /// includes, inside the emulated host: what the Swift probe asks on a real server. The
    /// host shares no file with this machine, so the probe travels as vmtest's files do:
    /// uploaded into vmtest's pool there through libvirt.
    static func probeInside(_ cpu: String, uri: String) async throws -> String {
        let binary = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-kvm-probe-\(getpid())")
        let build = try await EndToEnd.command(
            URL(fileURLWithPath: "/usr/bin/env"),
            [
                "aarch64-linux-gnu-gcc", "-static", "-O2", "-I", EndToEnd.repository.appendingPathComponent("Sources/CLibvirt").path,
                "-o", binary.path, EndToEnd.repository.appendingPathComponent("script/kvm-probe.c").path,
            ])
        try #require(build.status == 0, "cross-compiling script/kvm-probe.c failed")
        defer { try? FileManager.default.removeItem(at: binary) }
        let storage = try await HypervisorStorage.open(on: try await Connection.open(uri: uri))
        let (volume, _) = try await storage.upload(binary, as: "kvm-probe-\(getpid())", format: "raw", reporter: SilentReporter())
        let path = try await volume.path()
        let probe = try await EndToEnd.command(
            EndToEnd.repository.appendingPathComponent("script/arm-host"), ["exec", "e2e-\(cpu)", "--", "chmod +x \(path) && \(path)"])
        try await volume.delete()
        return probe.output
    }

    /// The host shares no file with this machine, so the base image reached its pool
    /// through libvirt (by an earlier try, when the nested emulation broke one); and nothing
    /// of a run is left there: no domain, no volume but the shared base images and boot files.
    static func expectNothingLeft(on uri: String) async throws {
        let connection = try await Connection.open(uri: uri)
        #expect(try await connection.domains().isEmpty, "domains left on the emulated host")
        let pool = try #require(try await connection.storagePool(named: HypervisorStorage.name), "runs there made vmtest's pool")
        try await pool.refresh()
        let volumes = try await pool.volumeNames()
        #expect(volumes.contains { $0.hasPrefix("base-") && $0.hasSuffix(".complete") }, "no base image was uploaded: \(volumes)")
        let left = volumes.filter { !IsolatedDaemonTests.isShared($0) }
        #expect(left.isEmpty, "volumes left on the emulated host: \(left)")
    }

    @Test(.timeLimit(.minutes(40))) func cortexA57RunsTheGuestsOwn32BitKernelUnderKVM() async throws {
        _ = try await EndToEnd.debianProfile()
        let uri = try Self.armHost("cortex-a57")
        do {
            let probe = try await Self.probeInside("cortex-a57", uri: uri)
            #expect(probe.contains("KVM_CAP_ARM_EL1_32BIT 1"), "\(probe)")
            #expect(probe.contains("vcpu-init-el1-32bit 1"), "\(probe)")

            let doctor = try await EndToEnd.vmtest(["doctor", "--connect", uri])
            #expect(doctor.output.contains("KVM, 32-bit guest kernel"), "\(doctor.output)")
            #expect(doctor.output.contains("under KVM, armv7l guest kernel"), "\(doctor.output)")

            let results = RunTests.results("a57")
            defer { try? FileManager.default.removeItem(at: results) }
            let profiles = try Self.oneVCPUProfiles()
            defer { try? FileManager.default.removeItem(at: profiles) }
            // The guest runs as little as proves the way (its own kernel under KVM, a test run
            // in it): every minute of nested emulation is a chance to break it, and the
            // package path is the same on every accelerator (the Cortex-A76 test installs one).
            // A healthy boot took 85-160 s; one not ready in 250 s (half the limit) is broken
            // (one hung after switching to its root for 280 s). With two vCPUs about half of
            // them broke (4 of 7 in three CI runs), with one none of five such runs
            // (2026-12-03), though a one-vCPU guest broke too, 3 minutes into a 10-minute
            // save run: one vCPU, and a budget for at least seven tries all the same.
            let run = try await Self.nested(
                [
                    "run", "debian12-armhf", "--profiles", profiles.path, "--connect", uri, "--test", "uname -m", "--cold", "--timeout",
                    "500",
                ],
                results: results, budget: .seconds(30 * 60))
            #expect(run.status == 0, "\(run.error)")
            let summary = try Self.summary(in: results)
            #expect(summary.accelerator == "kvm")
            #expect(summary.guestKernel == "armv7l")
            #expect(summary.tests.allSatisfy { $0.verdict == "passed" })
            #expect(try Self.commandOutputs(in: results, count: 1) == ["armv7l"])
            let console = try String(contentsOf: results.appendingPathComponent("console.log"), encoding: .utf8)
            #expect(console.contains("CPU: ARMv7 Processor"), "the guest's own 32-bit kernel booted, its log read back")
            #expect(console.contains("KVM"), "the guest kernel reports the KVM hypervisor")
            try await Self.expectNothingLeft(on: uri)
        }
    }

    @Test(.timeLimit(.minutes(20))) func cortexA76RunsA64BitGuestKernelUnderTheArmhfUserland() async throws {
        _ = try await EndToEnd.debianProfile()
        let hello = try #require(try await RunTests.examplePackages()["vmtest-hello"])
        let uri = try Self.armHost("cortex-a76")
        do {
            let probe = try await Self.probeInside("cortex-a76", uri: uri)
            #expect(probe.contains("KVM_CAP_ARM_EL1_32BIT 0"), "\(probe)")

            let doctor = try await EndToEnd.vmtest(["doctor", "--connect", uri])
            #expect(doctor.output.contains("under KVM, aarch64 guest kernel"), "\(doctor.output)")

            let refused = try await EndToEnd.vmtest(["run", "debian12-armhf", "--connect", uri, "--guest-kernel", "32", "--test", "true"])
            #expect(refused.status == ExitStatus.badInput)
            #expect(refused.error.contains("no AArch32 at EL1"), "\(refused.error)")

            let results = RunTests.results("a76")
            defer { try? FileManager.default.removeItem(at: results) }
            let run = try await Self.nested(
                [
                    "run", "debian12-armhf", "--connect", uri, "--rpm", hello, "--test", "uname -m", "--test", "getconf LONG_BIT",
                    "--cold", "--timeout", "900",
                ], results: results, budget: .seconds(10 * 60))
            #expect(run.status == 0, "\(run.error)")
            let summary = try Self.summary(in: results)
            #expect(summary.accelerator == "kvm")
            #expect(summary.guestKernel == "aarch64")
            #expect(summary.tests.contains { $0.kind == "installed-tests" && $0.verdict == "passed" })
            #expect(try Self.commandOutputs(in: results, count: 2) == ["armv8l", "32"])

            // An aarch64 guest runs under the same host's KVM directly.
            _ = try EndToEnd.catalog.load("debian12-arm64")
            let arm64 = try await Self.nested(
                ["boot", "debian12-arm64", "--connect", uri, "--cold", "--timeout", "1200", "--", "uname -m"], results: nil,
                budget: .seconds(10 * 60))
            #expect(arm64.status == 0, "\(arm64.error)")
            #expect(arm64.output == "aarch64\n")
            #expect(arm64.error.contains("running as kvm, aarch64 kernel"), "\(arm64.error)")
            try await Self.expectNothingLeft(on: uri)
        }
    }
}
