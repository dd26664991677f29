import Foundation

/// What a command run in the guest gave back. A non-zero exit status is a result, not
/// an error: only the channel itself failing throws.
public struct CommandResult: Sendable, Hashable, Codable {
    public var exitStatus: Int32
    public var standardOutput: String
    public var standardError: String
    /// Wall-clock seconds from sending the command to its end marker.
    public var seconds: Double

    public var succeeded: Bool { exitStatus == 0 }
}

/// How the shell on the console is reached.
public enum ConsoleLogin: Sendable, Hashable {
    /// A root shell is already there (an autologin getty).
    case autologin
    /// A `login:` prompt to answer.
    case password(user: String, password: String)
}

/// The command channel failed: the guest did not answer in time, or the console closed.
public struct GuestChannelError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        case notReady
        case commandTimedOut(command: String)
        case consoleClosed
    }

    public var kind: Kind
    public var seconds: Double
    /// The console's last lines, which usually say why (a kernel panic, a hung service).
    public var lastLines: [String]

    public var description: String {
        let what: String
        switch kind {
        case .notReady: what = "the guest's console shell did not answer within \(Int(seconds)) s"
        case .commandTimedOut(let command): what = "`\(command)` did not finish within \(Int(seconds)) s"
        case .consoleClosed: what = "the guest console closed (the guest stopped or crashed)"
        }
        guard !lastLines.isEmpty else { return what }
        return what + "; the console's last lines:\n" + lastLines.map { "  | \($0)" }.joined(separator: "\n")
    }
}

/// Runs commands in a guest through a shell on its console.
///
/// Each command travels as the shell's own printf formats (``PrintfFormat``: no quoting,
/// control character or line length in it can confuse the terminal) and its output is framed by markers that
/// contain a 0x1E byte the shell prints with `printf '\036'`: the terminal's echo of the
/// command line carries the four characters `\036`, never the byte, so echoed input can
/// never be mistaken for output. Each marker also carries a per-shell nonce and the
/// command's sequence number, so a late line from an earlier command cannot match.
public actor GuestShell {
    private let transport: any ConsoleTransport
    private let nonce: String
    private var sequence = 0
    private var filter = ConsoleTextFilter()
    /// Cleaned console text not yet consumed by a finished wait.
    private var matcher = ConsoleMatcher()
    private var transcript = RecentLines(limit: 40)
    private var closed = false
    /// Waits suspended until the console text satisfies their condition.
    private var waiters: [Int: Waiter] = [:]
    private var nextWaiterID = 0
    /// The one task that reads the console, for the shell's whole life: it feeds the
    /// matcher and wakes a wait only once its condition holds.
    private var reader: Task<Void, Never>?
    private let record: (@Sendable ([UInt8]) -> Void)?
    /// Receives raw console output while a person is attached.
    private var tap: (@Sendable ([UInt8]) -> Void)?

    /// Where the guest side keeps each command's script and standard error.
    private let scratchDirectory: String

    /// - Parameters:
    ///   - scratchDirectory: a directory in the guest for command files (`/run` is a tmpfs).
    ///   - record: receives every raw byte the guest writes (the transcript file).
    public init(
        transport: any ConsoleTransport, scratchDirectory: String = "/run/vmtest",
        record: (@Sendable ([UInt8]) -> Void)? = nil
    ) {
        self.transport = transport
        self.scratchDirectory = scratchDirectory
        self.record = record
        self.nonce = String(UInt32.random(in: 0x1000_0000...UInt32.max), radix: 16)
    }

    /// Starts reading the console. Separate from `init` because an actor cannot hand
    /// itself to a task before it is fully initialised.
    private func startReading() {
        guard reader == nil else { return }
        let stream = transport.output()
        reader = Task { [weak self] in
            do {
                for try await chunk in stream {
                    await self?.receive(chunk)
                }
            } catch {}
            await self?.markClosed()
        }
    }

    deinit { reader?.cancel() }

    /// Stops reading; the transport itself is closed by its owner.
    public func stop() {
        reader?.cancel()
        reader = nil
    }

    /// The console's last lines, for error messages.
    public var lastLines: [String] { transcript.lines }

    // MARK: Readiness

    /// Waits until a shell answers on the console, logging in first if needed, then
    /// quiets the terminal (no echo, no CR, no prompts, no kernel messages).
    ///
    /// Nothing is typed before the console has shown `typingSafeAfter`, when given: on a
    /// console a boot loader shares, the first key stops its boot at its own prompt.
    public func waitUntilReady(login: ConsoleLogin, typingSafeAfter: String? = nil, timeout: Duration) async throws {
        startReading()
        let start = ContinuousClock.now
        let deadline = start + timeout
        if let typingSafeAfter { _ = try await waitFor(typingSafeAfter, until: deadline, failure: .notReady, since: start) }
        let alive = marker("alive")
        // A probe sent before the getty runs is lost or flushed, so keep sending until
        // one is answered. Two seconds is far below a TCG boot and costs nothing.
        let probe = "\nprintf '\(alive.escaped)\\n'\n"
        var atShell = login == .autologin
        var lastSent = ContinuousClock.now
        if atShell { try await transport.send(Array(probe.utf8)) }
        let answersPrompts = login != .autologin
        while matcher.firstRange(of: alive.bytes) == nil {
            if case .password(let user, let password) = login {
                // Answer whichever prompt the console shows last; a prompt shown again
                // (after "Login incorrect", or a stray newline) is simply answered again.
                if matcher.endsWithIgnoringSpace("login:") {
                    matcher.consumeAll()
                    try await transport.send(Array("\(user)\n".utf8))
                    lastSent = .now
                    continue
                }
                if matcher.endsWithIgnoringSpace("Password:") {
                    matcher.consumeAll()
                    try await transport.send(Array("\(password)\n".utf8))
                    atShell = true
                    lastSent = .now
                    continue
                }
            }
            if ContinuousClock.now - lastSent >= .seconds(2) {
                // At a shell: probe again. Before one: a newline makes a getty that
                // printed its prompt before we listened print it again.
                try await transport.send(atShell ? Array(probe.utf8) : [0x0A])
                lastSent = .now
            }
            let answered = try await wait(until: min(deadline, .now + .seconds(2)), since: start) { matcher in
                matcher.firstRange(of: alive.bytes) != nil
                    || answersPrompts && (matcher.endsWithIgnoringSpace("login:") || matcher.endsWithIgnoringSpace("Password:"))
            }
            if !answered, ContinuousClock.now >= deadline { throw failure(.notReady, since: start) }
        }
        let ready = marker("ready")
        let setup = [
            // Kept for a person's session (``interact(input:output:)``), which gives the
            // terminal back as the guest set it up.
            "vmtest_stty=$(stty -g 2>/dev/null)",
            "stty -echo -onlcr 2>/dev/null",
            "export PS1= PS2= PROMPT_COMMAND= TERM=dumb PAGER=cat SYSTEMD_PAGER= SYSTEMD_COLORS=0 LC_ALL=C",
            "unset HISTFILE",
            "bind 'set enable-bracketed-paste off' 2>/dev/null",
            // No line editing: bash then reads plain lines, and readline cannot echo
            // (or scroll sideways) what the tty itself no longer echoes.
            "set +o emacs +o vi 2>/dev/null",
            "dmesg -n 1 2>/dev/null",
            "mkdir -p \(scratchDirectory)",
            "printf '\\n\(ready.escaped)\\n'",
        ].joined(separator: "; ")
        try await transport.send(Array("\(setup)\n".utf8))
        _ = try await waitFor(ready.literal, until: deadline, failure: .notReady, since: start)
    }

    /// Waits until the shell of a restored guest answers. It was set up before the guest
    /// was saved (``waitUntilReady(login:timeout:)``), so one probe is all it needs.
    public func waitUntilReattached(timeout: Duration) async throws {
        startReading()
        let start = ContinuousClock.now
        let deadline = start + timeout
        let alive = marker("alive")
        while true {
            try await transport.send(Array("\nprintf '\(alive.escaped)\\n'\n".utf8))
            let answered = try await wait(until: min(deadline, .now + .seconds(1)), since: start) { matcher in
                matcher.firstRange(of: alive.bytes) != nil
            }
            if answered { break }
            if ContinuousClock.now >= deadline { throw failure(.notReady, since: start) }
        }
        _ = try await waitFor(alive.literal, until: deadline, failure: .notReady, since: start)
    }

    // MARK: Commands

    /// Runs `command` with `sh` in the guest and returns its exit status, standard
    /// output and standard error. Standard input is `/dev/null`, so a command can never
    /// swallow the next one.
    public func run(_ command: String, timeout: Duration) async throws -> CommandResult {
        startReading()
        // The command's output is its result: keep it whole until its end marker.
        matcher.keepsText = true
        defer { matcher.keepsText = false }
        let start = ContinuousClock.now
        let deadline = start + timeout
        sequence += 1
        let id = sequence
        // One set of command files per shell, overwritten by each command rather than
        // removed: under TCG every process the line starts costs about 50 ms.
        let script = "\(scratchDirectory)/\(nonce)"
        let begin = marker("\(id):begin")
        let errors = marker("\(id):stderr")
        let end = marker("\(id):end")

        // The command crosses as printf formats, one console line each, every line
        // waiting for an acknowledgement so the guest's input buffer never overflows.
        let chunks = PrintfFormat.chunks(command.utf8, limit: 2048)
        // The first chunk truncates, so nothing of an interrupted earlier command remains.
        func append(_ index: Int) -> String { index == 0 ? ">" : ">>" }
        for (index, chunk) in chunks.dropLast().enumerated() {
            let ack = marker("\(id):chunk\(index)")
            try await transport.send(Array("printf '\(chunk)' \(append(index)) \(script).sh; printf '\(ack.escaped)\\n'\n".utf8))
            _ = try await waitFor(ack.literal, until: deadline, failure: .commandTimedOut(command: command), since: start)
        }
        let line = [
            "printf '\(chunks[chunks.count - 1])' \(append(chunks.count - 1)) \(script).sh",
            "printf '\(begin.escaped)\\n'",
            "sh \(script).sh < /dev/null 2> \(script).err",
            "vmtest_status=$?",
            "printf '\\n\(errors.escaped)\\n'",
            "[ ! -s \(script).err ] || cat \(script).err",
            "printf '\\n\(end.escaped)%d\\036\\n' $vmtest_status",
        ].joined(separator: "; ")
        try await transport.send(Array("\(line)\n".utf8))

        let framed: (String, Int32)
        do {
            framed = try await waitFor(end: end.literal, until: deadline, command: command, since: start)
        } catch let error as GuestChannelError where error.kind != .consoleClosed {
            // Interrupt the command so the shell can take the next one.
            try? await transport.send([0x03, 0x0A])
            throw error
        }
        let (body, status) = framed
        let output = body.between(begin.literal + "\n", and: "\n" + errors.literal + "\n")
        // Everything after the stderr marker, less the newline printed before the end marker.
        var stderr = body.between(errors.literal + "\n", and: "\u{1E}")
        if stderr.hasSuffix("\n") { stderr.removeLast() }
        return CommandResult(
            exitStatus: status,
            standardOutput: output,
            standardError: stderr,
            seconds: (ContinuousClock.now - start).seconds)
    }

    // MARK: Interactive use

    /// Hands the console to a person: guest output goes to `output` and `input` goes to
    /// the guest, until the input ends or carries Ctrl-] (as in `virsh console`).
    ///
    /// The guest's terminal gets back the settings it had before the shell was quieted
    /// (``waitUntilReady(login:timeout:)``): echo, so a person sees what they type, and
    /// newline-to-CRLF on output, without which a raw host terminal shows each line
    /// starting where the last one ended. What the guest prints meanwhile goes to the
    /// person only; the matcher is not fed, so nothing piles up however long the session.
    public func interact(input: AsyncStream<[UInt8]>, output: @escaping @Sendable ([UInt8]) -> Void) async throws {
        startReading()
        tap = output
        defer { tap = nil }
        matcher.consumeAll()
        try await transport.send(
            Array("stty \"$vmtest_stty\" 2>/dev/null || stty sane; export PS1='vmtest-guest# '\n".utf8))
        for await chunk in input {
            if let escape = chunk.firstIndex(of: 0x1D) {
                if escape > 0 { try await transport.send(Array(chunk[..<escape])) }
                return
            }
            try await transport.send(chunk)
        }
    }

    // MARK: Output plumbing

    private func receive(_ bytes: [UInt8]) async {
        record?(bytes)
        tap?(bytes)
        let cleaned = filter.feed(bytes)
        if cleaned.cursorQueries > 0 {
            // Answer as an 80x24 terminal would, so full-screen programs do not hang.
            for _ in 0..<cleaned.cursorQueries { try? await transport.send(Array("\u{1B}[24;80R".utf8)) }
        }
        transcript.append(cleaned.text)
        guard tap == nil else { return }
        matcher.append(cleaned.text)
        for (id, waiter) in waiters where waiter.isSatisfied(&matcher) {
            resume(id)
        }
    }

    private func markClosed() {
        closed = true
        for id in waiters.keys { resume(id) }
    }

    private func resume(_ id: Int) {
        waiters.removeValue(forKey: id)?.continuation.resume()
    }

    /// Suspends until `condition` holds for the console text (true) or `deadline` passes
    /// (false). Output that does not satisfy it wakes nobody. Throws if the console
    /// closes first or the task is cancelled.
    private func wait(
        until deadline: ContinuousClock.Instant, since start: ContinuousClock.Instant,
        for condition: @escaping (inout ConsoleMatcher) -> Bool
    ) async throws -> Bool {
        try Task.checkCancellation()
        if condition(&matcher) { return true }
        if closed { throw failure(.consoleClosed, since: start) }
        if ContinuousClock.now >= deadline { return false }
        nextWaiterID += 1
        let id = nextWaiterID
        await withTaskGroup(of: Void.self) { group in
            // The deadline, as a child of this wait: ended by the wait, and cancelled
            // with the task that waits (a cancelled sleep returns at once).
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                // Console text that arrived just before the deadline may still wait for a
                // thread to be read on (a busy process, a starved pool): let the reader go
                // first, so the wait is not called late on text it already has.
                for _ in 0..<3 { await Task.yield() }
                await self.resume(id)
            }
            await withCheckedContinuation { continuation in
                waiters[id] = Waiter(isSatisfied: condition, continuation: continuation)
            }
            group.cancelAll()
        }
        try Task.checkCancellation()
        if condition(&matcher) { return true }
        if closed { throw failure(.consoleClosed, since: start) }
        return false
    }

    private func failure(_ kind: GuestChannelError.Kind, since start: ContinuousClock.Instant) -> GuestChannelError {
        GuestChannelError(kind: kind, seconds: (ContinuousClock.now - start).seconds, lastLines: transcript.lines)
    }

    /// Waits until `literal` appears; consumes the text up to and including it.
    private func waitFor(
        _ literal: String, until deadline: ContinuousClock.Instant, failure kind: GuestChannelError.Kind,
        since start: ContinuousClock.Instant
    ) async throws -> String {
        let bytes = Array(literal.utf8)
        guard try await wait(until: deadline, since: start, for: { $0.firstRange(of: bytes) != nil }),
            let range = matcher.firstRange(of: bytes)
        else { throw failure(kind, since: start) }
        return matcher.consume(upTo: range.upperBound)
    }

    /// Waits for an end marker followed by the exit status and the closing 0x1E.
    private func waitFor(
        end literal: String, until deadline: ContinuousClock.Instant, command: String, since start: ContinuousClock.Instant
    ) async throws -> (String, Int32) {
        let bytes = Array(literal.utf8)
        guard try await wait(until: deadline, since: start, for: { $0.endFrame(bytes) != nil }),
            let frame = matcher.endFrame(bytes)
        else { throw failure(.commandTimedOut(command: command), since: start) }
        let body = matcher.consume(upTo: frame.body.upperBound)
        matcher.consume(upTo: frame.end - frame.body.upperBound)
        return (body, frame.status)
    }

    private func marker(_ label: String) -> Marker { Marker(label: "vmtest-\(nonce)-\(label)") }
}

/// A frame marker: how it is written in a shell command, and how it reads on the console.
private struct Marker {
    let label: String
    var bytes: [UInt8] { Array(literal.utf8) }
    /// In a printf format: the 0x1E bytes spelled as escapes, so an echo cannot match.
    var escaped: String { "\\036\(label)\\036" }
    var literal: String { "\u{1E}\(label)\u{1E}" }
}

/// A wait for console text: resumed once the text satisfies it.
private struct Waiter {
    let isSatisfied: (inout ConsoleMatcher) -> Bool
    let continuation: CheckedContinuation<Void, Never>
}

/// The last lines of console text, for error messages.
struct RecentLines {
    let limit: Int
    private var complete: [String] = []
    private var partial = ""

    init(limit: Int) { self.limit = limit }

    mutating func append(_ text: String) {
        var pieces = (partial + text).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        partial = pieces.removeLast()
        complete.append(contentsOf: pieces.map { $0.replacingOccurrences(of: "\u{1E}", with: "") })
        if complete.count > limit { complete.removeFirst(complete.count - limit) }
    }

    var lines: [String] {
        let all = complete + (partial.isEmpty ? [] : [partial])
        return Array(all.suffix(limit)).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
    }
}

extension String {
    /// The text after the first `start` up to the next `end` (or to the end).
    fileprivate func between(_ start: String, and end: String) -> String {
        guard let lower = range(of: start)?.upperBound else { return "" }
        let rest = self[lower...]
        guard let upper = rest.range(of: end)?.lowerBound else { return String(rest) }
        return String(rest[..<upper])
    }
}
