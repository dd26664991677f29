import Foundation
import Testing

@testable import VMTest

/// Verdicts as CI servers read them: JUnit's four, and the outcomes packagers' own test
/// formats have (tmt's xfail, warn and info, DEP-8's flaky) kept by name.
@Suite struct JUnitXMLTests {
    static func report(_ verdicts: [RunReport.Verdict]) -> RunReport {
        RunReport(
            runID: "r", profile: "debian12-armhf", imageSHA256: nil,
            host: .init(hostname: "h", architecture: "x86_64", connection: "embedded"), accelerator: .tcg, guestKernel: .armv7l,
            acceleratorReason: nil, channel: "serial", workarounds: [], packages: [], phases: [],
            tests: verdicts.map { verdict in
                TestCaseResult(
                    kind: .tmt, name: "/tests/\(verdict.rawValue)", command: "true", verdict: verdict, exitStatus: 1, seconds: 1,
                    standardOutput: "", standardError: "", message: "why \(verdict.rawValue)")
            }, infrastructureError: nil, startedAt: Date(timeIntervalSince1970: 0), seconds: 7)
    }

    @Test func packagersOutcomesKeepTheirNames() {
        let xml = JUnitXML.render(Self.report([.passed, .failed, .skipped, .error, .xfail, .flaky, .warn, .info]))
        // warn counts as a failure (as tmt counts it), xfail as a skip; flaky and info pass.
        #expect(xml.contains("tests='8' failures='2' errors='1' skipped='2'"), "\(xml)")
        for verdict in ["xfail", "flaky", "warn", "info"] {
            #expect(xml.contains("<property name='verdict' value='\(verdict)'/>"), "\(verdict): \(xml)")
        }
        #expect(xml.contains("<skipped message='xfail: why xfail'/>"), "\(xml)")
        #expect(xml.contains("<flakyFailure message='why flaky' type='exit 1'>why flaky</flakyFailure>"), "\(xml)")
        #expect(xml.contains("<failure message='warn: why warn' type='warn'>why warn</failure>"), "\(xml)")
    }

    @Test(arguments: [
        ([RunReport.Verdict.passed, .xfail, .flaky, .info, .skipped], ExitStatus.success),
        ([.passed, .warn], ExitStatus.testFailed),
        ([.flaky, .failed], ExitStatus.testFailed),
        ([.error], ExitStatus.testFailed),
    ])
    func whatFailsARun(_ verdicts: [RunReport.Verdict], _ status: Int32) {
        #expect(Self.report(verdicts).exitStatus == status)
    }
}
