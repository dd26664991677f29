import Dispatch
import Foundation

/// Where progress goes. Phases are named steps (image, overlay, boot, ready, ...) a
/// person watches; `detail` is what a long step is doing right now.
public protocol Reporter: Sendable {
    func begin(_ phase: String, _ detail: String)
    func detail(_ phase: String, _ message: String)
    func end(_ phase: String, seconds: Double, _ detail: String)
    /// Something a person should read once (for example: "emulating with TCG because ...").
    func note(_ message: String)
    /// Whether `detail` redraws one status line (a terminal) rather than adding a line
    /// (a CI log): frequent progress is fine for the first, noise in the second.
    var isInteractive: Bool { get }
}

extension Reporter {
    public var isInteractive: Bool { false }
}

/// Progress as lines on standard error, so standard output stays the guest's.
///
/// In CI logs (no terminal, or `CI` set) every event is one plain, time-stamped line. On
/// a terminal the step in progress is one status line with a spinner and its running
/// time, so a 20-second emulated boot visibly moves; finished steps stay as lines.
public final class LineReporter: Reporter, @unchecked Sendable {
    private let lock = NSLock()
    private let isTerminal: Bool
    private let started = ContinuousClock.now
    /// The status line being animated, and when its step began.
    private var status: (text: String, since: ContinuousClock.Instant)?
    private var frame = 0
    private var ticker: (any DispatchSourceTimer)?

    private let output: FileHandle

    public init(isTerminal: Bool = isatty(STDERR_FILENO) == 1 && ProcessInfo.processInfo.environment["CI"] == nil) {
        self.isTerminal = isTerminal
        output = .standardError
    }

    /// Plain lines into a file (one run's log, while many run at once).
    public init(logFile: URL) throws {
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        output = try FileHandle(forWritingTo: logFile)
        isTerminal = false
    }

    deinit { ticker?.cancel() }

    public var isInteractive: Bool { isTerminal }

    public func begin(_ phase: String, _ detail: String) {
        lock.withLock {
            if isTerminal {
                status = ("\(phase): \(detail)", .now)
                startTicking()
                redraw()
            } else {
                write(stamp("\(phase): \(detail)") + "\n")
            }
        }
    }

    public func detail(_ phase: String, _ message: String) {
        lock.withLock {
            if isTerminal {
                status = ("\(phase): \(message)", status?.since ?? .now)
                redraw()
            } else {
                write(stamp("\(phase): \(message)") + "\n")
            }
        }
    }

    public func end(_ phase: String, seconds: Double, _ detail: String) {
        permanent("\(phase): \(detail) (\(Self.format(seconds)))", endingStatus: true)
    }

    public func note(_ message: String) {
        permanent("note: \(message)", endingStatus: false)
    }

    private func permanent(_ line: String, endingStatus: Bool) {
        lock.withLock {
            if isTerminal {
                write("\r\u{1B}[K" + stamp(line) + "\n")
                if endingStatus {
                    status = nil
                    ticker?.cancel()
                    ticker = nil
                } else {
                    redraw()
                }
            } else {
                write(stamp(line) + "\n")
            }
        }
    }

    /// Called with the lock held.
    private func startTicking() {
        guard ticker == nil else { return }
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + .milliseconds(100), repeating: .milliseconds(100))
        timer.setEventHandler { [weak self] in
            guard let self else { return }
            self.lock.withLock {
                self.frame += 1
                self.redraw()
            }
        }
        timer.resume()
        ticker = timer
    }

    /// Called with the lock held.
    private func redraw() {
        guard let status else { return }
        let spinner = Array("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")[frame % 10]
        let line = "\(spinner) \(status.text) \(Self.format((ContinuousClock.now - status.since).seconds))"
        write("\r\u{1B}[K" + String(stamp(line).prefix(terminalWidth - 1)))
    }

    private func stamp(_ line: String) -> String {
        String(format: "[%6.1fs] ", (ContinuousClock.now - started).seconds) + line
    }

    private func write(_ text: String) {
        output.write(Data(text.utf8))
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
