import Foundation

/// Writes a run's results directory: junit.xml, summary.json and one log per test
/// (console.log is written there by QEMU itself while the guest runs).
public enum RunResultsWriter {
    public static func write(_ report: RunReport, to directory: URL) {
        let fileManager = FileManager.default
        try? fileManager.createDirectory(at: directory.appendingPathComponent("tests"), withIntermediateDirectories: true)
        try? JUnitXML.render(report).write(to: directory.appendingPathComponent("junit.xml"), atomically: true, encoding: .utf8)
        try? summaryJSON(report).write(to: directory.appendingPathComponent("summary.json"))
        for (index, test) in report.tests.enumerated() {
            let log = """
                test: \(test.name)
                command: \(test.command)
                verdict: \(test.verdict.rawValue)\(test.exitStatus.map { " (exit \($0))" } ?? "")
                seconds: \(String(format: "%.2f", test.seconds))

                --- stdout ---
                \(test.standardOutput)
                --- stderr ---
                \(test.standardError)
                """
            let name = String(format: "%02d-", index + 1) + slug(test.name) + ".log"
            try? log.write(to: directory.appendingPathComponent("tests").appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
    }

    public static func summaryJSON(_ report: RunReport) throws -> Data {
        try SummaryJSON.encode(Summary(report: report))
    }

    /// summary.json: the report plus its verdict, spelled out for readers without vmtest.
    struct Summary: Encodable {
        var report: RunReport
        func encode(to encoder: any Encoder) throws {
            try report.encode(to: encoder)
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode(report.verdict, forKey: .verdict)
            try container.encode(report.exitStatus, forKey: .exitStatus)
        }
        enum Keys: String, CodingKey { case verdict, exitStatus }
    }

    static func slug(_ text: String) -> String {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
        return String(text.map { allowed.contains($0) ? $0 : "_" }.prefix(60))
    }
}
