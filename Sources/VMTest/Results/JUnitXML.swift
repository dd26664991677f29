/// Renders a run as JUnit XML, the dialect Jenkins and GitLab read: one `<testsuite>`
/// per run, one `<testcase>` per test with its output and time.
public enum JUnitXML {
    public static func render(_ report: RunReport) -> String {
        let failures = report.tests.filter { $0.verdict == .failed }.count
        let errors = report.tests.filter { $0.verdict == .error }.count + (report.infrastructureError == nil ? 0 : 1)
        let skipped = report.tests.filter { $0.verdict == .skipped }.count
        var xml = XMLWriter()
        var text = "<?xml version='1.0' encoding='UTF-8'?>\n"
        xml.open("testsuites", ["name": "vmtest", "tests": String(report.tests.count), "failures": String(failures), "errors": String(errors), "time": seconds(report.seconds)])
        xml.open("testsuite", [
            "name": "vmtest.\(report.profile)", "tests": String(report.tests.count), "failures": String(failures),
            "errors": String(errors), "skipped": String(skipped), "time": seconds(report.seconds),
            "timestamp": report.startedAt.formatted(.iso8601), "hostname": report.host.hostname,
        ])
        xml.open("properties")
        for (name, value) in [
            ("run-id", report.runID), ("profile", report.profile), ("accelerator", report.accelerator.rawValue),
            ("channel", report.channel), ("image-sha256", report.imageSHA256 ?? ""),
            ("workarounds", report.workarounds.map(\.name).joined(separator: ",")),
        ] {
            xml.element("property", ["name": name, "value": value])
        }
        xml.close("properties")
        for test in report.tests {
            xml.open("testcase", ["classname": "\(report.profile).\(test.kind)", "name": test.name, "time": seconds(test.seconds)])
            let message = test.message ?? ""
            switch test.verdict {
            case .passed: break
            case .failed: xml.element("failure", ["message": message, "type": "exit \(test.exitStatus.map(String.init) ?? "?")"], text: message)
            case .error: xml.element("error", ["message": message], text: message)
            case .skipped: xml.element("skipped", ["message": message])
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
        xml.close("testsuites")
        text += xml.text
        return text
    }

    private static func seconds(_ value: Double) -> String {
        String(format: "%.3f", value)
    }
}
