import Foundation

/// The verdict a person reads at the end of `vmtest run`, on standard error.
public enum RunSummaryPrinter {
    public static func print(_ report: RunReport, results: URL) {
        var lines: [String] = [""]
        let passed = report.tests.filter { $0.verdict == .passed }.count
        let failed = report.tests.filter { $0.verdict.failsTheRun }.count
        let skipped = report.tests.filter { $0.verdict == .skipped }.count
        // Outcomes of packagers' own tests, said only when there are any.
        let others = RunReport.Verdict.packagersOwn.compactMap { verdict -> String? in
            let count = report.tests.filter { $0.verdict == verdict }.count
            return count == 0 ? nil : ", \(count) \(verdict.rawValue)"
        }.joined()
        for test in report.tests where test.verdict.failsTheRun || test.verdict == .flaky {
            lines.append(
                "\(test.verdict == .failed || test.verdict == .error ? "FAILED" : test.verdict.rawValue.uppercased()) \(test.name): \(test.message ?? "")"
            )
            let detail = (test.standardError.isEmpty ? test.standardOutput : test.standardError)
                .split(separator: "\n").suffix(8)
            lines += detail.map { "  | \($0)" }
        }
        if let error = report.infrastructureError {
            lines.append("INFRASTRUCTURE FAILURE: \(error)")
            let consoleLog = results.appendingPathComponent("console.log")
            if let ending = ConsoleLogEnding(contentsOf: consoleLog, lineCount: 15) {
                lines.append(ending.formatted(heading: "the console's last lines (whole log: \(consoleLog.path)):"))
            }
        }
        lines.append(
            "\(report.verdict.rawValue.uppercased()): \(passed) passed, \(failed) failed, \(skipped) skipped\(others) in \(String(format: "%.1f", report.seconds)) s (\(report.profile), \(report.accelerator.map { "\($0.rawValue), \(report.guestKernel?.rawValue ?? "?") kernel" } ?? "no hypervisor"), \(report.channel)\(report.warmState.map { ", restored from saved state \($0)" } ?? ""))"
        )
        lines.append("results: \(results.path) (junit.xml, summary.json, console.log, tests/)")
        FileHandle.standardError.writeIfOpen((lines.joined(separator: "\n") + "\n"))
    }
}
