import Foundation

/// Where progress goes. Phases are named steps (image, overlay, boot, ready, ...) a
/// person watches; `detail` is what a long step is doing right now.
public protocol Reporter: Sendable {
    func begin(_ phase: String, _ detail: String)
    func detail(_ phase: String, _ message: String)
    func end(_ phase: String, seconds: Double, _ detail: String)
    /// Something a person should read once (for example: "emulating with TCG because ...").
    func note(_ message: String)
}

/// Progress as plain lines on standard error, so standard output stays the guest's.
///
/// On a terminal, details overwrite one status line; in CI logs every line is kept.
public final class LineReporter: Reporter, @unchecked Sendable {
    private let lock = NSLock()
    private let isTerminal: Bool
    private let started = ContinuousClock.now
    private var statusShown = false

    public init(isTerminal: Bool = isatty(STDERR_FILENO) == 1 && ProcessInfo.processInfo.environment["CI"] == nil) {
        self.isTerminal = isTerminal
    }

    public func begin(_ phase: String, _ detail: String) {
        emit("\(phase): \(detail)", transient: false)
    }

    public func detail(_ phase: String, _ message: String) {
        emit("\(phase): \(message)", transient: true)
    }

    public func end(_ phase: String, seconds: Double, _ detail: String) {
        emit("\(phase): \(detail) (\(Self.format(seconds)))", transient: false)
    }

    public func note(_ message: String) {
        emit("note: \(message)", transient: false)
    }

    private func emit(_ line: String, transient: Bool) {
        lock.lock()
        defer { lock.unlock() }
        let elapsed = (ContinuousClock.now - started).seconds
        let stamped = String(format: "[%6.1fs] ", elapsed) + line
        var output = ""
        if isTerminal && statusShown { output += "\r\u{1B}[K" }
        if isTerminal && transient {
            output += String(stamped.prefix(terminalWidth - 1))
            statusShown = true
        } else {
            output += stamped + "\n"
            statusShown = false
        }
        FileHandle.standardError.write(Data(output.utf8))
    }

    private var terminalWidth: Int {
        var size = winsize()
        return IOControl.call(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 ? Int(size.ws_col) : 100
    }

    static func format(_ seconds: Double) -> String {
        seconds < 10 ? String(format: "%.2f s", seconds) : String(format: "%.1f s", seconds)
    }
}

/// Discards progress: for library callers and tests that only want results.
public struct SilentReporter: Reporter {
    public init() {}
    public func begin(_ phase: String, _ detail: String) {}
    public func detail(_ phase: String, _ message: String) {}
    public func end(_ phase: String, seconds: Double, _ detail: String) {}
    public func note(_ message: String) {}
}
