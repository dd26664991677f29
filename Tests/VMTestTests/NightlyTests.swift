import Foundation
import Synchronization
import Testing

@testable import VMTest

/// Plans, the night's scheduling over hypervisors, and its report, with runs faked:
/// the end-to-end nightly test runs real guests.
@Suite struct NightlyTests {
    /// A folder holding copies of an armv7hl fixture RPM under the given names, and a plan file.
    static func planFolder(rpms: [String]) async throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("vmtest-plan-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("rpms"), withIntermediateDirectories: true)
        let arm = try await RPMFixtures.shared.value.arm
        for name in rpms { try FileManager.default.copyItem(at: arm, to: folder.appendingPathComponent("rpms/\(name).rpm")) }
        return folder
    }

    static func load(_ yaml: String, in folder: URL) throws(PlanError) -> (Plan, [PackageSet]) {
        try PlanLoader.parse(yaml: yaml, file: folder.appendingPathComponent("night.yaml"), catalog: ProfileLoaderTests.catalog)
    }

    @Test func packagesExpandFromFilesGlobsDirectoriesAndNamedSets() async throws {
        let folder = try await Self.planFolder(rpms: ["a-1.0", "b-1.0", "c-2.0"])
        defer { try? FileManager.default.removeItem(at: folder) }
        let (plan, sets) = try Self.load(
            """
            profiles: [debian12-armhf]
            packages:
              - rpms/a-1.0.rpm
              - rpms/[bc]-*.rpm
              - {name: together, rpms: [rpms/a-1.0.rpm, rpms/c-2.0.rpm]}
            hypervisors:
              - {uri: embedded, capacity: 2}
              - {uri: "qemu+tcp://127.0.0.1/system"}
            """, in: folder)
        #expect(sets.map(\.name) == ["a-1.0", "b-1.0", "c-2.0", "together"])
        #expect(sets.last?.rpms.map { URL(fileURLWithPath: $0).lastPathComponent } == ["a-1.0.rpm", "c-2.0.rpm"])
        #expect(plan.hypervisors == [.init(uri: "embedded", capacity: 2), .init(uri: "qemu+tcp://127.0.0.1/system", capacity: 1)])
        #expect(plan.hypervisors.map(\.connectURI) == [nil, "qemu+tcp://127.0.0.1/system"])
        #expect(plan.retries == 1)

        let (_, fromDirectory) = try Self.load("profiles: [debian12-armhf]\npackages: [rpms]\n", in: folder)
        #expect(fromDirectory.map(\.name) == ["a-1.0", "b-1.0", "c-2.0"])
        #expect(
            try Self.load("profiles: [debian12-armhf]\npackages: [rpms]\n", in: folder).0.hypervisors == [
                .init(uri: "embedded", capacity: 1)
            ])
    }

    @Test func debianPackagesAreSetsToo() async throws {
        let folder = try await Self.planFolder(rpms: ["a-1.0"])
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["x_1.0_armhf.deb", "y_2.0_armhf.deb"] {
            try Data("!<arch>\n".utf8).write(to: folder.appendingPathComponent("rpms/\(name)"))
        }
        let (_, sets) = try Self.load(
            """
            profiles: [debian12-armhf]
            packages:
              - rpms
              - {name: both, rpms: [rpms/a-1.0.rpm], debs: [rpms/x_1.0_armhf.deb, rpms/y_2.0_armhf.deb]}
              - {name: own-tests, tests-from: rpms}
            """, in: folder)
        #expect(sets.map(\.name) == ["a-1.0", "x_1.0_armhf", "y_2.0_armhf", "both", "own-tests"])
        #expect(sets[4].testsFrom == folder.appendingPathComponent("rpms").path && sets[4].rpms.isEmpty && sets[4].debs.isEmpty)
        #expect(sets[3].testsFrom == nil)
        #expect(sets[1].rpms.isEmpty && sets[1].debs.map { URL(fileURLWithPath: $0).lastPathComponent } == ["x_1.0_armhf.deb"])
        #expect(sets[3].rpms.count == 1 && sets[3].debs.count == 2)
    }

    @Test func repoFoldersStartAtThePlansFolder() async throws {
        let folder = try await Self.planFolder(rpms: ["a-1.0"])
        defer { try? FileManager.default.removeItem(at: folder) }
        let (plan, _) = try Self.load("profiles: [debian12-armhf]\npackages: [rpms]\nrepos: [deps, /srv/more]\n", in: folder)
        #expect(plan.repositories == [folder.appendingPathComponent("deps").path, "/srv/more"])
        #expect(try Self.load("profiles: [debian12-armhf]\npackages: [rpms]\n", in: folder).0.repositories.isEmpty)
    }

    static let badPlans: [(String, Int, String)] = [
        ("profiles: [debian12-armhf]\npackages:\n  - {name: x, debs: [rpms/missing.deb]}\n", 3, "no such .deb"),
        ("profiles: [debian12-armhf]\npackages:\n  - {name: x}\n", 3, "has no RPM, no .deb and no tests"),
        ("profiles: [debian12-armhf]\npackages:\n  - {name: x, tests-from: nowhere}\n", 3, "no such source tree, .dsc or fmf tree"),
        ("profiles: [debian12-armhf]\npackages: [rpms]\nhypervisor: []\n", 3, "did you mean 'hypervisors'"),
        ("profiles: []\npackages: [rpms]\n", 1, "names no profile"),
        ("profiles: [debian12-armhf, debain12-armhf]\npackages: [rpms]\n", 1, "profile 'debain12-armhf' cannot be used"),
        ("profiles: [debian12-armhf]\npackages:\n  - rpms/nothing-*.rpm\n", 3, "matches no RPM"),
        ("profiles: [debian12-armhf]\npackages:\n  - {name: x, rpms: [rpms/missing.rpm]}\n", 3, "no such RPM"),
        ("profiles: [debian12-armhf]\npackages: [rpms]\nhypervisors:\n  - {uri: builder1, capacity: 2}\n", 4, "not a libvirt URI"),
        ("profiles: [debian12-armhf]\npackages: [rpms]\nhypervisors:\n  - {uri: embedded, capacity: 0}\n", 4, "capacity must be 1 to 64"),
        ("profiles: [debian12-armhf]\npackages: [rpms]\nhypervisors:\n  - {uri: embedded}\n  - {uri: embedded}\n", 5, "listed twice"),
        ("profiles: [debian12-armhf]\npackages: [rpms]\nretries: 9\n", 3, "retries must be 0 to 5"),
        ("profiles: [debian12-armhf]\npackages: [rpms/a-1.0.rpm, rpms/a-1.0.rpm]\n", 2, "appears twice"),
        ("profiles: [debian12-armhf]\npackages: [rpms]\ntimeout: -5\n", 3, "positive number of seconds"),
    ]

    @Test(arguments: badPlans)
    func aBadPlanNamesFileLineAndFix(_ bad: (String, Int, String)) async throws {
        let folder = try await Self.planFolder(rpms: ["a-1.0"])
        defer { try? FileManager.default.removeItem(at: folder) }
        let error = try #require(throws: PlanError.self) { try Self.load(bad.0, in: folder) }
        #expect(error.location?.line == bad.1, "\(error)")
        #expect(error.message.contains(bad.2), "\(error)")
        #expect(error.fix != nil)
        #expect(error.description.hasPrefix(folder.appendingPathComponent("night.yaml").path + ", line \(bad.1): "))
        #expect(ExitStatus.for(error) == ExitStatus.badInput)
    }

    /// Fake runs: "failing" sets fail a test, "flaky" sets fail for infrastructure on
    /// their first try; each run records how many runs its hypervisor had at once.
    final class Ledger: Sendable {
        struct State {
            var running: [String: Int] = [:]
            var peak: [String: Int] = [:]
            var total = 0, peakTotal = 0
            var attempts: [String: Int] = [:]
        }
        let state = Mutex(State())
    }

    static func runner(_ yaml: String, rpms: [String], parallel: Int, refusing: Set<String> = [], ledger: Ledger) async throws -> (
        NightlyRunner, URL
    ) {
        let folder = try await planFolder(rpms: rpms)
        let (plan, sets) = try load(yaml, in: folder)
        var runner = NightlyRunner(
            plan: plan, packageSets: sets, catalog: ProfileLoaderTests.catalog, parallel: parallel,
            results: folder.appendingPathComponent("results"), progress: NightlyProgress(isTerminal: false, write: { _ in }))
        runner.memoryLimit = 64
        runner.probe = { hypervisor in refusing.contains(hypervisor.uri) ? "cannot connect to \(hypervisor.uri): Connection refused" : nil }
        runner.execute = { run, hypervisor, _ in
            let set = URL(fileURLWithPath: run.packages[0].file.path).deletingPathExtension().lastPathComponent
            let attempt = ledger.state.withLock { state -> Int in
                state.running[hypervisor.uri, default: 0] += 1
                state.total += 1
                state.peak[hypervisor.uri] = max(state.peak[hypervisor.uri] ?? 0, state.running[hypervisor.uri]!)
                state.peakTotal = max(state.peakTotal, state.total)
                state.attempts[set, default: 0] += 1
                return state.attempts[set]!
            }
            try? await Task.sleep(for: .milliseconds(30))
            ledger.state.withLock {
                $0.running[hypervisor.uri]! -= 1
                $0.total -= 1
            }
            var report = RunReport.notStarted(run, connection: hypervisor.uri, problem: "")
            report.infrastructureError = nil
            let failing = set.hasPrefix("failing")
            if set.hasPrefix("flaky"), attempt == 1 {
                report.infrastructureError = "the guest's console shell did not answer within 300 s"
            } else {
                report.tests = [
                    TestCaseResult(
                        kind: .install, name: "install", command: "rpm -U", verdict: failing ? .failed : .passed,
                        exitStatus: failing ? 1 : 0, seconds: 0.03, standardOutput: "", standardError: "", message: nil)
                ]
            }
            RunResultsWriter.write(report, to: run.results)
            return report
        }
        return (runner, folder)
    }

    @Test func failuresAreResultsInfrastructureIsRetriedElsewhereAndCapacityHolds() async throws {
        let ledger = Ledger()
        let (runner, folder) = try await Self.runner(
            """
            profiles: [debian12-armhf]
            packages: [rpms]
            retries: 2
            hypervisors:
              - {uri: embedded, capacity: 2}
              - {uri: "qemu+tcp://127.0.0.1:1/system", capacity: 2}
              - {uri: "qemu+tcp://127.0.0.1/system", capacity: 1}
            """, rpms: ["a-1.0", "b-1.0", "c-1.0", "failing-1.0", "flaky-1.0", "z-1.0"], parallel: 3,
            refusing: ["qemu+tcp://127.0.0.1:1/system"], ledger: ledger)
        defer { try? FileManager.default.removeItem(at: folder) }
        let report = try await runner.run()

        let bySet = Dictionary(uniqueKeysWithValues: report.runs.map { ($0.packageSet, $0) })
        #expect(bySet["failing-1.0"]?.verdict == .failed)
        #expect(bySet["failing-1.0"]?.attempts.count == 1, "a test failure is never retried")
        #expect(bySet["flaky-1.0"]?.verdict == .passed)
        let flaky = try #require(bySet["flaky-1.0"]?.attempts)
        #expect(flaky.first?.verdict == .infrastructure && flaky.count >= 2)
        #expect(Set(flaky.map(\.hypervisor)).count == flaky.count, "each retry goes to another hypervisor")
        // The refusing hypervisor shows up as infrastructure failures, retried on the others.
        let refused = report.runs.flatMap(\.attempts).filter { $0.hypervisor == "qemu+tcp://127.0.0.1:1/system" }
        #expect(
            !refused.isEmpty
                && refused.allSatisfy { $0.verdict == .infrastructure && $0.infrastructureError?.contains("Connection refused") == true })
        #expect(report.hypervisors.first { $0.uri.hasSuffix(":1/system") }?.unavailable?.contains("Connection refused") == true)
        #expect(report.runs.filter { $0.verdict == .passed }.count == 5)
        #expect(report.exitStatus == ExitStatus.testFailed)

        let peaks = ledger.state.withLock { $0 }
        #expect(peaks.peakTotal <= 3, "--parallel 3")
        #expect((peaks.peak["embedded"] ?? 0) <= 2 && (peaks.peak["qemu+tcp://127.0.0.1/system"] ?? 0) <= 1, "capacity")
        #expect(peaks.peakTotal >= 2, "runs went in parallel")

        // One report: the folder holds every attempt's results and the aggregate files.
        let results = folder.appendingPathComponent("results")
        for run in report.runs {
            for attempt in run.attempts {
                #expect(FileManager.default.fileExists(atPath: results.appendingPathComponent(attempt.results + "/summary.json").path))
            }
        }
        let junit = try String(contentsOf: results.appendingPathComponent("junit.xml"), encoding: .utf8)
        #expect(junit.components(separatedBy: "<testsuite ").count - 1 == 6, "one testsuite per run")
        #expect(junit.contains("name='debian12-armhf.failing-1.0'"))
        let html = try String(contentsOf: results.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains("data-package-set=\"failing-1.0\" data-verdict=\"failed\""))
        #expect(html.contains("data-package-set=\"flaky-1.0\" data-verdict=\"passed\""))
        let markdown = try String(contentsOf: results.appendingPathComponent("report.md"), encoding: .utf8)
        #expect(markdown.contains("| failing-1.0 | **FAIL**"))
        let summary = try JSONDecoder.iso8601.decode(
            NightlyReport.self, from: Data(contentsOf: results.appendingPathComponent("summary.json")))
        #expect(summary.runs == report.runs && summary.hypervisors == report.hypervisors && summary.exitStatus == report.exitStatus)
    }

    @Test func onlyInfrastructureFailuresExitThreeAndTheNightGoesOn() async throws {
        let ledger = Ledger()
        let (runner, folder) = try await Self.runner(
            """
            profiles: [debian12-armhf]
            packages: [rpms]
            retries: 1
            hypervisors:
              - {uri: "qemu+tcp://127.0.0.1:1/system", capacity: 2}
              - {uri: "qemu+tcp://127.0.0.1:2/system", capacity: 2}
            """, rpms: ["a-1.0", "b-1.0", "c-1.0"], parallel: 2,
            refusing: ["qemu+tcp://127.0.0.1:1/system", "qemu+tcp://127.0.0.1:2/system"], ledger: ledger)
        defer { try? FileManager.default.removeItem(at: folder) }
        let report = try await runner.run()
        #expect(report.runs.count == 3)
        #expect(report.runs.allSatisfy { $0.verdict == .infrastructure })
        #expect(report.exitStatus == ExitStatus.infrastructure)
        #expect(ledger.state.withLock { $0.attempts.isEmpty }, "nothing ran on a hypervisor that refused")
        #expect(report.hypervisors.allSatisfy { $0.unavailable != nil })
    }

    @Test func progressIsATableRedrawnInPlaceOnATerminalAndLinesInCI() {
        let screen = Mutex("")
        let live = NightlyProgress(isTerminal: true, write: { text in screen.withLock { $0 += text } })
        live.start(
            plan: "night", runs: 3, hypervisors: ["embedded", "qemu+tcp://127.0.0.1/system"], concurrency: 2, reason: "--parallel 2")
        live.started(profile: "debian12-armhf", packageSet: "a", hypervisor: "embedded", attempt: 1)
        live.finished(
            profile: "debian12-armhf", packageSet: "a", hypervisor: "embedded", verdict: .failed, seconds: 3, retrying: false, detail: nil)
        let drawn = screen.withLock { $0 }
        #expect(drawn.contains("\u{1B}[6A") && drawn.contains("\u{1B}[7A"), "each table is drawn over the one before")
        let columns = ["0", "0", "1", "0"].map { String(repeating: " ", count: 8) + $0 }.joined()
        #expect(drawn.contains("embedded" + String(repeating: " ", count: 32) + columns), "running 0, passed 0, failed 1, infra 0")
        #expect(drawn.contains("queued: 2"))

        let lines = Mutex("")
        let plain = NightlyProgress(isTerminal: false, write: { text in lines.withLock { $0 += text } })
        plain.start(plan: "night", runs: 1, hypervisors: ["embedded"], concurrency: 1, reason: "--parallel 1")
        plain.finished(
            profile: "p", packageSet: "a", hypervisor: "embedded", verdict: .infrastructure, seconds: 1, retrying: true,
            detail: "boot timed out\nmore")
        let text = lines.withLock { $0 }
        #expect(!text.contains("\u{1B}"), "no terminal codes in CI logs")
        #expect(text.contains("INFRA p × a on embedded (1.00 s): boot timed out; trying again\n"))
    }

    @Test func concurrencyIsTheSmallestOfParallelCapacityAndMemory() async throws {
        let folder = try await Self.planFolder(rpms: ["a-1.0"])
        defer { try? FileManager.default.removeItem(at: folder) }
        let (plan, sets) = try Self.load(
            "profiles: [debian12-armhf]\npackages: [rpms]\nhypervisors:\n  - {uri: embedded, capacity: 3}\n", in: folder)
        var runner = NightlyRunner(
            plan: plan, packageSets: sets, catalog: ProfileLoaderTests.catalog, parallel: 8, results: folder,
            progress: NightlyProgress(isTerminal: false, write: { _ in }))
        let profile = try ProfileLoaderTests.catalog.load("debian12-armhf")
        runner.memoryLimit = 64
        #expect(runner.concurrency(profiles: [profile]).0 == 3)
        runner.memoryLimit = 2
        #expect(runner.concurrency(profiles: [profile]).0 == 2)
        runner.parallel = 1
        #expect(runner.concurrency(profiles: [profile]).0 == 1)
        #expect(HostMemory.availableMiB(meminfo: "MemTotal: 24000000 kB\nMemAvailable:   4194304 kB\n") == 4096)
    }
}

extension JSONDecoder {
    static var iso8601: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
