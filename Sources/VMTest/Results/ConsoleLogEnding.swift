import Foundation

/// The end of a guest's serial console log, as a person reads it after a failure: its last
/// lines, and the reason the guest kernel gave when it panicked.
///
/// A guest whose kernel panics ends the run with a lost console (`panic=-1` reboots it and
/// the reboot destroys the domain), and the log's last lines are then mostly the stack dump
/// that follows the panic line: the reason is in that line, often dozens of lines up.
struct ConsoleLogEnding: Equatable {
    static let panicMarker = "Kernel panic - not syncing: "

    var lastLines: [String]
    var kernelPanic: String?

    /// Lines end in `\r\n` on a serial console: split on every kind of line end.
    init(log: String, lineCount: Int) {
        let lines = log.split(whereSeparator: \.isNewline)
        lastLines = lines.suffix(lineCount).map(String.init)
        let reason = lines.reversed().lazy.compactMap { line in line.range(of: Self.panicMarker).map { line[$0.upperBound...] } }.first
        kernelPanic = reason.map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Nil when the log cannot be read or is empty.
    init?(contentsOf log: URL, lineCount: Int) {
        guard let text = try? String(contentsOf: log, encoding: .utf8), !text.isEmpty else { return nil }
        self.init(log: text, lineCount: lineCount)
    }

    /// The panic's reason, if any, then the last lines under `heading`.
    func formatted(heading: String) -> String {
        var text = kernelPanic.map { "the guest kernel panicked: \($0)\n" } ?? ""
        text += heading + "\n" + lastLines.map { "  | \($0)" }.joined(separator: "\n")
        return text
    }
}
