import Foundation

/// What a night of runs gave: every cell of the matrix with each attempt, per
/// hypervisor counts, and the exit status a CI job acts on. Written as summary.json.
public struct NightlyReport: Sendable, Codable, Hashable {
    public var plan: String
    public var startedAt: Date
    public var seconds: Double
    /// How many guests ran at once at most, and why that many.
    public var concurrency: Int
    public var concurrencyReason: String
    public var hypervisors: [HypervisorSummary]
    public var runs: [MatrixRun]

    public struct HypervisorSummary: Sendable, Codable, Hashable {
        public var uri: String
        public var capacity: Int
        public var attempts: Int
        public var passed: Int
        public var failed: Int
        public var infrastructure: Int
        /// Why the hypervisor was given up on, if it was.
        public var unavailable: String?
    }

    /// One cell of the matrix: a profile and a package set.
    public struct MatrixRun: Sendable, Codable, Hashable {
        public var profile: String
        public var packageSet: String
        public var packages: [String]
        public var verdict: Verdict
        public var attempts: [Attempt]
        public var tests: TestCounts
        public var seconds: Double

        /// The attempt the verdict comes from.
        public var final: Attempt? { attempts.last }
    }

    public struct Attempt: Sendable, Codable, Hashable {
        public var hypervisor: String
        public var runID: String
        public var verdict: Verdict
        public var infrastructureError: String?
        public var seconds: Double
        /// The run's own results folder, relative to the report's.
        public var results: String
        public var warmState: String?
    }

    public struct TestCounts: Sendable, Codable, Hashable {
        public var passed = 0
        /// Failed, errors, and tmt's warn (which fails a run as tmt counts it).
        public var failed = 0
        public var skipped = 0
        /// Packagers' own outcomes (xfail, flaky, warn, info) by name, besides the counts above.
        public var outcomes: [String: Int] = [:]

        mutating func count(_ verdict: RunReport.Verdict) {
            switch verdict {
            case .passed: passed += 1
            case .skipped: skipped += 1
            case .failed, .error: failed += 1
            case .warn:
                failed += 1
                outcomes[verdict.rawValue, default: 0] += 1
            case .xfail, .flaky, .info: outcomes[verdict.rawValue, default: 0] += 1
            }
        }

        /// "3 passed, 1 failed, 1 xfail", as the report shows it.
        var summary: String {
            "\(passed) passed, \(failed) failed" + (skipped > 0 ? ", \(skipped) skipped" : "")
                + outcomes.sorted { $0.key < $1.key }.map { ", \($0.value) \($0.key)" }.joined()
        }
    }

    public enum Verdict: String, Sendable, Codable, Hashable {
        case passed, failed
        /// The machinery failed (boot time-out, lost console, hypervisor gone), every try.
        case infrastructure
    }

    /// 0 everything passed, 1 a test failed, 3 only infrastructure failed.
    public var exitStatus: Int32 {
        if runs.contains(where: { $0.verdict == .failed }) { return ExitStatus.testFailed }
        if runs.contains(where: { $0.verdict == .infrastructure }) { return ExitStatus.infrastructure }
        return ExitStatus.success
    }

    public var profiles: [String] { runs.map(\.profile).uniqued() }
    public var packageSets: [String] { runs.map(\.packageSet).uniqued() }

    public func run(profile: String, packageSet: String) -> MatrixRun? {
        runs.first { $0.profile == profile && $0.packageSet == packageSet }
    }
}

extension Array where Element: Hashable {
    /// The elements in order, each once.
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}

/// summary.json, junit.xml (one testsuite per run), report.md and report.html in the
/// night's results folder, beside each run's own folder.
public enum NightlyReportWriter {
    public static func write(_ report: NightlyReport, finalRuns: [RunReport], to folder: URL) throws {
        try SummaryJSON.encode(report).write(to: folder.appendingPathComponent("summary.json"))
        let suites = report.runs.compactMap { run -> (String, RunReport)? in
            guard let final = run.final, let result = finalRuns.first(where: { $0.runID == final.runID }) else { return nil }
            return ("\(run.profile).\(run.packageSet)", result)
        }
        try JUnitXML.render(suites: suites).write(to: folder.appendingPathComponent("junit.xml"), atomically: true, encoding: .utf8)
        try markdown(report).write(to: folder.appendingPathComponent("report.md"), atomically: true, encoding: .utf8)
        try html(report).write(to: folder.appendingPathComponent("report.html"), atomically: true, encoding: .utf8)
    }

    static func label(_ verdict: NightlyReport.Verdict) -> String {
        switch verdict {
        case .passed: "PASS"
        case .failed: "FAIL"
        case .infrastructure: "INFRA"
        }
    }

    static func duration(_ seconds: Double) -> String {
        seconds < 60 ? String(format: "%.1f s", seconds) : String(format: "%d min %02d s", Int(seconds) / 60, Int(seconds) % 60)
    }

    static func attemptsNote(_ run: NightlyReport.MatrixRun) -> String {
        let retried = run.attempts.dropLast().map { "\($0.hypervisor): \($0.infrastructureError ?? $0.verdict.rawValue)" }
        return retried.isEmpty ? "" : "retried after " + retried.joined(separator: "; ")
    }

    /// Text for one table cell or list item: messages with a `fix:` line become one line.
    static func oneLine(_ text: String) -> String {
        text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ").replacingOccurrences(
            of: "|", with: "\\|")
    }

    public static func markdown(_ report: NightlyReport) -> String {
        var lines = [
            "# vmtest nightly: \(report.plan)", "",
            "\(UTCTimestamp(report.startedAt).iso8601), \(duration(report.seconds)), up to \(report.concurrency) guests at once (\(report.concurrencyReason)); exit status \(report.exitStatus).",
            "",
            "| package set | " + report.profiles.joined(separator: " | ") + " |",
            "| --- | " + report.profiles.map { _ in "---" }.joined(separator: " | ") + " |",
        ]
        for set in report.packageSets {
            let cells = report.profiles.map { profile -> String in
                guard let run = report.run(profile: profile, packageSet: set), let final = run.final else { return "" }
                var cell =
                    "**\(label(run.verdict))** \(duration(run.seconds)) on \(final.hypervisor) ([junit](\(final.results)/junit.xml), [console](\(final.results)/console.log))"
                if run.attempts.count > 1 { cell += " (\(run.attempts.count) attempts)" }
                return cell
            }
            lines.append("| \(set) | " + cells.joined(separator: " | ") + " |")
        }
        lines += [
            "", "| hypervisor | capacity | attempts | passed | failed | infrastructure | state |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for hypervisor in report.hypervisors {
            lines.append(
                "| \(hypervisor.uri) | \(hypervisor.capacity) | \(hypervisor.attempts) | \(hypervisor.passed) | \(hypervisor.failed) | \(hypervisor.infrastructure) | \(hypervisor.unavailable.map { "unavailable: \(oneLine($0))" } ?? "up") |"
            )
        }
        let retried = report.runs.filter { $0.attempts.count > 1 }
        if !retried.isEmpty {
            lines += ["", "Retried after infrastructure failures:", ""]
            lines += retried.map { "- \($0.profile) × \($0.packageSet): \(oneLine(attemptsNote($0)))" }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func html(_ report: NightlyReport) -> String {
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var rows = ""
        for set in report.packageSets {
            rows += "<tr><th scope=\"row\">\(escape(set))</th>"
            for profile in report.profiles {
                guard let run = report.run(profile: profile, packageSet: set), let final = run.final else {
                    rows += "<td></td>"
                    continue
                }
                // What the tests left behind (AUTOPKGTEST_ARTIFACTS, TMT_TEST_DATA), when they did.
                var targets = [("junit.xml", "junit"), ("console.log", "console"), ("summary.json", "summary")]
                if FileManager.default.fileExists(atPath: "\(final.results)/artifacts") { targets.append(("artifacts/", "artifacts")) }
                let links = targets.map { "<a href=\"\(escape(final.results))/\($0.0)\">\($0.1)</a>" }.joined(separator: " ")
                let tests = run.tests.summary
                let note = attemptsNote(run)
                rows +=
                    "<td class=\"\(run.verdict.rawValue)\" data-profile=\"\(escape(profile))\" data-package-set=\"\(escape(set))\" data-verdict=\"\(run.verdict.rawValue)\">"
                    + "<strong>\(label(run.verdict))</strong> <span class=\"time\">\(duration(run.seconds))</span><br>"
                    + "<span class=\"detail\">\(tests) on \(escape(final.hypervisor))</span><br>\(links)"
                    + (note.isEmpty ? "" : "<br><span class=\"retry\">\(escape(note))</span>")
                    + (run.verdict == .infrastructure ? "<br><span class=\"retry\">\(escape(final.infrastructureError ?? ""))</span>" : "")
                    + "</td>"
            }
            rows += "</tr>\n"
        }
        var hypervisors = ""
        for hypervisor in report.hypervisors {
            hypervisors +=
                "<tr><td>\(escape(hypervisor.uri))</td><td>\(hypervisor.capacity)</td><td>\(hypervisor.attempts)</td><td>\(hypervisor.passed)</td>"
                + "<td>\(hypervisor.failed)</td><td>\(hypervisor.infrastructure)</td><td>\(escape(hypervisor.unavailable.map { "unavailable: \($0)" } ?? "up"))</td></tr>\n"
        }
        let counts = Dictionary(grouping: report.runs, by: \.verdict).mapValues(\.count)
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>vmtest nightly: \(escape(report.plan))</title>
            <style>
            body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
            table { border-collapse: collapse; margin: 1em 0; }
            th, td { border: 1px solid #ccc; padding: .4em .7em; text-align: left; vertical-align: top; }
            td.passed { background: #e3f6e3; } td.failed { background: #fbe0e0; } td.infrastructure { background: #fff2cc; }
            .detail, .time { color: #555; } .retry { color: #8a6d00; font-size: 90%; }
            </style></head><body>
            <h1>vmtest nightly: \(escape(report.plan))</h1>
            <p id="summary">\(escape(UTCTimestamp(report.startedAt).iso8601)), \(duration(report.seconds)), up to \(report.concurrency) guests at once (\(escape(report.concurrencyReason))).
            <strong>\(counts[.passed] ?? 0) passed, \(counts[.failed] ?? 0) failed, \(counts[.infrastructure] ?? 0) infrastructure</strong>; exit status \(report.exitStatus).</p>
            <table id="matrix"><thead><tr><th>package set</th>\(report.profiles.map { "<th scope=\"col\">\(escape($0))</th>" }.joined())</tr></thead>
            <tbody>
            \(rows)</tbody></table>
            <h2>Hypervisors</h2>
            <table id="hypervisors"><thead><tr><th>URI</th><th>capacity</th><th>attempts</th><th>passed</th><th>failed</th><th>infrastructure</th><th>state</th></tr></thead>
            <tbody>
            \(hypervisors)</tbody></table>
            <p><a href="junit.xml">junit.xml</a> · <a href="summary.json">summary.json</a></p>
            </body></html>

            """
    }
}
