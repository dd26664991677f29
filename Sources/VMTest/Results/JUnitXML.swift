/// Renders a run as JUnit XML, the dialect Jenkins and GitLab read: one `<testsuite>`
/// per run, one `<testcase>` per test with its output and time.
public enum JUnitXML {
    public static func render(_ report: RunReport) -> String {
        render(suites: [("vmtest.\(report.profile)", report)])
    }

    /// Many runs in one document (a night's runs): one `<testsuite>` per run.
    public static func render(suites: [(name: String, report: RunReport)]) -> String {
        let reports = suites.map(\.report)
        var xml = XMLWriter()
        xml.open(
            "testsuites",
            [
                "name": "vmtest", "tests": String(reports.map(\.tests.count).reduce(0, +)),
                "failures": String(reports.map(failures).reduce(0, +)), "errors": String(reports.map(errors).reduce(0, +)),
                "time": seconds(reports.map(\.seconds).reduce(0, +)),
            ])
        for (name, report) in suites { testsuite(report, name: name, into: &xml) }
        xml.close("testsuites")
        return "<?xml version='1.0' encoding='UTF-8'?>\n" + xml.text
    }

    private static func failures(_ report: RunReport) -> Int {
        report.tests.filter { $0.verdict == .failed || $0.verdict == .warn }.count
    }
    private static func errors(_ report: RunReport) -> Int {
        report.tests.filter { $0.verdict == .error }.count + (report.infrastructureError == nil ? 0 : 1)
    }

    private static func testsuite(_ report: RunReport, name: String, into xml: inout XMLWriter) {
        let skipped = report.tests.filter { $0.verdict == .skipped || $0.verdict == .xfail }.count
        xml.open(
            "testsuite",
            [
                "name": name, "tests": String(report.tests.count), "failures": String(failures(report)),
                "errors": String(errors(report)), "skipped": String(skipped), "time": seconds(report.seconds),
                "timestamp": UTCTimestamp(report.startedAt).iso8601, "hostname": report.host.hostname,
            ])
        xml.open("properties")
        for (name, value) in [
            ("run-id", report.runID), ("profile", report.profile), ("accelerator", report.accelerator?.rawValue ?? "none"),
            ("guest-kernel", report.guestKernel?.rawValue ?? "none"),
            ("channel", report.channel), ("image-sha256", report.imageSHA256 ?? ""),
            ("workarounds", report.workarounds.map(\.name).joined(separator: ",")), ("connection", report.host.connection),
        ] {
            xml.element("property", ["name": name, "value": value])
        }
        xml.close("properties")
        for test in report.tests {
            xml.open(
                "testcase", ["classname": "\(report.profile).\(test.kind.rawValue)", "name": test.name, "time": seconds(test.seconds)])
            let message = test.message ?? ""
            // JUnit knows pass, failure, error and skipped; the other outcomes keep their
            // own name in a property, and map to the nearest JUnit element: xfail is a
            // skip, warn a failure, a flaky failure Surefire's <flakyFailure> (which
            // Jenkins shows on a passing test), info a pass.
            if RunReport.Verdict.packagersOwn.contains(test.verdict) {
                xml.open("properties")
                xml.element("property", ["name": "verdict", "value": test.verdict.rawValue])
                xml.close("properties")
            }
            let exit = "exit \(test.exitStatus.map(String.init) ?? "?")"
            switch test.verdict {
            case .passed, .info: break
            case .failed: xml.element("failure", ["message": message, "type": exit], text: message)
            case .warn: xml.element("failure", ["message": "warn: \(message)", "type": "warn"], text: message)
            case .error: xml.element("error", ["message": message], text: message)
            case .skipped: xml.element("skipped", ["message": message])
            case .xfail: xml.element("skipped", ["message": "xfail: \(message)"])
            case .flaky: xml.element("flakyFailure", ["message": message, "type": exit], text: message)
            }
            xml.element("system-out", text: test.standardOutput)
            xml.element("system-err", text: test.standardError)
            xml.close("testcase")
        }
        if let failure = report.infrastructureError {
            xml.open("testcase", ["classname": "\(report.profile).vmtest", "name": "infrastructure", "time": "0"])
            xml.element("error", ["message": failure], text: failure)
            xml.close("testcase")
        }
        xml.close("testsuite")
    }

    private static func seconds(_ value: Double) -> String {
        String(format: "%.3f", value)
    }
}
