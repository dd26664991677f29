import Foundation
import Testing

@testable import VMTest

/// A real night: four package runs at parallel 2 over the embedded driver and a real
/// libvirtd reached through a remote-style URI on loopback (`script/libvirtd start`,
/// which script/test runs first), plus a hypervisor that refuses connections.
@Suite(.serialized, .timeLimit(.minutes(30))) struct NightlyEndToEndTests {
    static let daemon = DaemonTests.uri
    static let refusing = "qemu+tcp://127.0.0.1:1/system"

    /// The night's summary.json in `results`.
    static func report(in results: URL) throws -> NightlyReport {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(NightlyReport.self, from: Data(contentsOf: results.appendingPathComponent("summary.json")))
    }

    @Test func fourRunsOverTwoHypervisorsAndOneThatRefusesMakeOneReport() async throws {
        _ = try await EndToEnd.debianProfile()
        _ = try await DaemonTests.domains()  // fails, saying how to start it, when no daemon answers
        let packages = try await RunTests.examplePackages()
        let hello = try #require(packages["vmtest-hello"])
        let failing = try #require(packages["vmtest-hello-failing"])
        let broken = try #require(packages["vmtest-broken-install"])

        let folder = RunTests.results("nightly")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let plan = folder.appendingPathComponent("night.yaml")
        try """
        profiles: [debian12-armhf]
        packages:
          - \(hello)
          - \(failing)
          - \(broken)
          - {name: hello-twice, rpms: [\(hello)]}
        tests: ["uname -m | grep -x armv7l"]
        retries: 1
        hypervisors:
          - {uri: "\(Self.refusing)", capacity: 1}
          - {uri: embedded, capacity: 1}
          - {uri: "\(Self.daemon)", capacity: 1}
        """.write(to: plan, atomically: true, encoding: .utf8)
        let results = folder.appendingPathComponent("results")

        let night = try await EndToEnd.vmtest(["nightly", plan.path, "--parallel", "2", "--results", results.path])
        #expect(night.status == 1, "a failing test makes the night fail; stderr: \(night.error)")
        let report = try NightlyEndToEndTests.report(in: results)
        let verdicts = Dictionary(uniqueKeysWithValues: report.runs.map { ($0.packageSet, $0.verdict) })
        #expect(
            verdicts == [
                "vmtest-hello-1.0-1.armv7hl": .passed, "hello-twice": .passed,
                "vmtest-hello-failing-1.0-1.armv7hl": .failed, "vmtest-broken-install-1.0-1.armv7hl": .failed,
            ])
        #expect(report.concurrency == 2)
        // Both working hypervisors ran guests; the refusing one shows up as infrastructure
        // failures that were retried elsewhere, and never stopped the night.
        let byURI = Dictionary(uniqueKeysWithValues: report.hypervisors.map { ($0.uri, $0) })
        #expect((byURI["embedded"]?.attempts ?? 0) >= 1 && (byURI[Self.daemon]?.attempts ?? 0) >= 1, "\(report.hypervisors)")
        #expect(byURI[Self.refusing]?.unavailable != nil)
        #expect((byURI[Self.refusing]?.infrastructure ?? 0) >= 1)
        for run in report.runs where run.attempts.first?.hypervisor == Self.refusing {
            #expect(run.attempts.count == 2 && run.attempts[1].hypervisor != Self.refusing)
        }
        for run in report.runs {
            let final = try #require(run.final)
            let summary = try RunTests.summary(in: results.appendingPathComponent(final.results))
            #expect(summary.verdict == (run.verdict == .passed ? "passed" : "failed"))
        }
        let junit = try String(contentsOf: results.appendingPathComponent("junit.xml"), encoding: .utf8)
        #expect(junit.components(separatedBy: "<testsuite ").count - 1 == 4)
        #expect(junit.contains("<property name='connection' value='\(Self.daemon)'/>"), "a run went through the daemon")

        // Nothing is left on the daemon.
        let left = try await DaemonTests.domains().filter { $0.hasPrefix("vmtest-") }
        #expect(left.isEmpty, "domains left on the daemon: \(left)")

        // The HTML report, opened by a real browser, shows the matrix.
        let (dumped, dom) = try await EndToEnd.command(
            EndToEnd.repository.appendingPathComponent("script/chromium-dump"), [results.appendingPathComponent("report.html").path])
        #expect(dumped == 0)
        #expect(dom.contains("<table id=\"matrix\">"))
        for run in report.runs {
            #expect(
                dom.contains("data-package-set=\"\(run.packageSet)\" data-verdict=\"\(run.verdict.rawValue)\""),
                "\(run.packageSet) missing from the rendered matrix")
        }
        #expect(dom.contains("2 passed, 2 failed, 0 infrastructure"))
    }
}
