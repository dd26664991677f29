import Dispatch
import Foundation
import Synchronization

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
public final class LineReporter: Reporter, Sendable {
    private let isTerminal: Bool
    private let started = ContinuousClock.now
    private let output: FileHandle
    private let state = Mutex(State())

    private struct State {
        /// The status line being animated, and when its step began.
        var status: (text: String, since: ContinuousClock.Instant)?
        var frame = 0
        var ticker: (any DispatchSourceTimer)?
        /// The output is gone (a closed pipe, a full disk): nothing more is written.
        var closed = false
    }

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

    deinit { state.withLock { $0.ticker?.cancel() } }

    public var isInteractive: Bool { isTerminal }

    public func begin(_ phase: String, _ detail: String) {
        state.withLock { state in
            if isTerminal {
                state.status = ("\(phase): \(detail)", .now)
                startTicking(&state)
                redraw(&state)
            } else {
                write(stamp("\(phase): \(detail)") + "\n", &state)
            }
        }
    }

    public func detail(_ phase: String, _ message: String) {
        state.withLock { state in
            if isTerminal {
                state.status = ("\(phase): \(message)", state.status?.since ?? .now)
                redraw(&state)
            } else {
                write(stamp("\(phase): \(message)") + "\n", &state)
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
        state.withLock { state in
            if isTerminal {
                write("\r\u{1B}[K" + stamp(line) + "\n", &state)
                if endingStatus {
                    state.status = nil
                    state.ticker?.cancel()
                    state.ticker = nil
                } else {
                    redraw(&state)
                }
            } else {
                write(stamp(line) + "\n", &state)
            }
        }
    }

    private func startTicking(_ state: inout State) {
        guard state.ticker == nil else { return }
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + .milliseconds(100), repeating: .milliseconds(100))
        timer.setEventHandler { [weak self] in
            guard let self else { return }
            self.state.withLock { state in
                state.frame += 1
                self.redraw(&state)
            }
        }
        timer.resume()
        state.ticker = timer
    }

    private func redraw(_ state: inout State) {
        guard let status = state.status else { return }
        let spinner = Array("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")[state.frame % 10]
        let line = "\(spinner) \(status.text) \(Self.format((ContinuousClock.now - status.since).seconds))"
        write("\r\u{1B}[K" + String(stamp(line).prefix(terminalWidth - 1)), &state)
    }

    private func stamp(_ line: String) -> String {
        String(format: "[%6.1fs] ", (ContinuousClock.now - started).seconds) + line
    }

    /// Progress nobody can read any more is dropped; the run it describes goes on.
    private func write(_ text: String, _ state: inout State) {
        guard !state.closed else { return }
        state.closed = !output.writeIfOpen(text)
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
