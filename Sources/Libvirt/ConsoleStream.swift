internal import CLibvirt
import Synchronization

extension Domain {
    /// Connects to the domain's text console (its serial port), taking it over from any
    /// other client, as a test harness that owns the guest wants.
    ///
    /// - Parameter device: the console or serial alias from the domain XML
    ///   (e.g. `"serial0"`), or `nil` for the first console.
    ///
    /// The corresponding libvirt function is `virDomainOpenConsole`.
    public func openConsole(device: String? = nil) async throws(LibvirtError) -> ConsoleStream {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            try ConsoleStream(domain: self, device: device)
        }
    }
}

/// A bidirectional byte stream to a domain's console.
///
/// Reading is push-based: libvirt's event loop thread tells us when the console is
/// readable, and the data flows into ``bytes`` without tying up a thread of Swift's
/// cooperative pool. The sequence finishes when the console hangs up (the guest powered
/// off or was destroyed) and throws ``LibvirtError`` if the stream fails.
///
/// ``close()`` tears the stream down deterministically; dropping the last reference
/// tears it down too, soon after, on ``LibvirtWorkers`` (with a remote driver, closing a
/// stream is a round trip to the daemon).
///
/// The corresponding libvirt type is `virStreamPtr`.
public final class ConsoleStream: Sendable {
    /// Console output, in chunks as they arrive. Iterate it from one task only.
    public let bytes: AsyncThrowingStream<[UInt8], any Error>

    private let core: StreamCore
    /// libvirt streams hold their connection alive too; holding it here makes it explicit.
    private let connection: Connection

    fileprivate init(domain: Domain, device: String?) throws(LibvirtError) {
        connection = domain.connection
        guard let stream = virStreamNew(connection.pointer, VIR_STREAM_NONBLOCK.rawValue) else {
            throw LibvirtError.last(from: "virStreamNew")
        }
        guard
            virDomainOpenConsole(domain.pointer, device, stream, VIR_DOMAIN_CONSOLE_FORCE.rawValue)
                == 0
        else {
            let error = LibvirtError.last(from: "virDomainOpenConsole")
            virStreamFree(stream)
            throw error
        }
        let (bytes, continuation) = AsyncThrowingStream<[UInt8], any Error>.makeStream()
        self.bytes = bytes
        core = StreamCore(stream: stream, continuation: continuation)
        do {
            try core.startWatching()
        } catch {
            core.close()
            throw error
        }
    }

    deinit {
        LibvirtWorkers.shared.enqueue { [core] in core.close() }
    }

    /// Sends bytes to the console (the guest reads them from its serial port). Waits,
    /// without blocking a thread, while the console cannot take more.
    ///
    /// The corresponding libvirt function is `virStreamSend`.
    public func write(_ bytes: [UInt8]) async throws(LibvirtError) {
        var offset = 0
        while offset < bytes.count {
            switch core.send(bytes[offset...]) {
            case .sent(let count):
                offset += count
            case .wouldBlock:
                await core.waitUntilWritable()
            case .failed(let error):
                throw error
            }
        }
    }

    /// Sends a string as UTF-8.
    ///
    /// The corresponding libvirt function is `virStreamSend`.
    public func write(_ text: String) async throws(LibvirtError) {
        try await write(Array(text.utf8))
    }

    /// Stops watching the console, closes the stream and finishes ``bytes``. Safe to call
    /// more than once and from any task.
    ///
    /// The corresponding libvirt functions are `virStreamEventRemoveCallback`,
    /// `virStreamFinish` or `virStreamAbort`, and `virStreamFree`.
    public func close() async {
        await LibvirtWorkers.shared.run { [core] in core.close() }
    }
}

/// The state shared between a ``ConsoleStream`` and libvirt's event loop thread.
///
/// libvirt holds one retained reference to this object while the event callback is
/// registered and releases it through the callback's free function, so the callback can
/// never see a freed object, even if removal races a callback in flight. All stream calls
/// happen under one lock, which the callback also takes; libvirt holds none of its own
/// locks while calling us, so the lock order is always ours first.
private final class StreamCore: Sendable {
    struct State {
        /// `nil` once closed; never touched after that.
        var stream: OpaquePointer?
        var continuation: AsyncThrowingStream<[UInt8], any Error>.Continuation
        /// Whether our event callback is registered.
        var watching = false
        /// Whether the console reported end of file, so `virStreamFinish` applies.
        var reachedEnd = false
        /// Writers waiting for the console to become writable.
        var writers: [CheckedContinuation<Void, Never>] = []
    }

    enum SendResult {
        case sent(Int)
        case wouldBlock
        case failed(LibvirtError)
    }

    private static let readEvents =
        Int32(
            VIR_STREAM_EVENT_READABLE.rawValue | VIR_STREAM_EVENT_ERROR.rawValue
                | VIR_STREAM_EVENT_HANGUP.rawValue)
    private static let writableEvent = Int32(VIR_STREAM_EVENT_WRITABLE.rawValue)
    private static let hangupEvents =
        Int32(VIR_STREAM_EVENT_ERROR.rawValue | VIR_STREAM_EVENT_HANGUP.rawValue)
    private static let chunkSize = 64 * 1024

    private let state: Mutex<State>

    init(
        stream: sending OpaquePointer,
        continuation: AsyncThrowingStream<[UInt8], any Error>.Continuation
    ) {
        state = Mutex(State(stream: stream, continuation: continuation))
    }

    /// Registers the event callback that feeds `bytes`.
    ///
    /// The corresponding libvirt function is `virStreamEventAddCallback`.
    func startWatching() throws(LibvirtError) {
        let result: Result<Void, LibvirtError> = state.withLock { state in
            guard let stream = state.stream else { return .success(()) }
            let opaque = Unmanaged.passRetained(self).toOpaque()
            let added = virStreamEventAddCallback(
                stream, Self.readEvents,
                { _, events, opaque in
                    guard let opaque else { return }
                    Unmanaged<StreamCore>.fromOpaque(opaque).takeUnretainedValue().handle(
                        events: events)
                }, opaque,
                { opaque in
                    guard let opaque else { return }
                    Unmanaged<StreamCore>.fromOpaque(opaque).release()
                })
            guard added == 0 else {
                let error = LibvirtError.last(from: "virStreamEventAddCallback")
                Unmanaged<StreamCore>.fromOpaque(opaque).release()
                return .failure(error)
            }
            state.watching = true
            return .success(())
        }
        try result.get()
    }

    /// Runs on the event loop thread: drains readable data, wakes writers, and stops
    /// watching once the console is gone.
    private func handle(events: Int32) {
        state.withLock { state in
            guard let stream = state.stream else { return }
            if events & Self.readEvents != 0 {
                drain(stream, events: events, &state)
            }
            if events & Self.writableEvent != 0 || !state.watching {
                for writer in state.writers { writer.resume() }
                state.writers.removeAll()
            }
            if state.watching {
                updateInterest(stream, &state)
            }
        }
    }

    /// Reads until the stream would block, ends, or fails.
    ///
    /// The corresponding libvirt function is `virStreamRecv`.
    private func drain(_ stream: OpaquePointer, events: Int32, _ state: inout State) {
        var buffer = [UInt8](repeating: 0, count: Self.chunkSize)
        while true {
            let count = buffer.withUnsafeMutableBytes { raw in
                virStreamRecv(
                    stream, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count)
            }
            if count > 0 {
                state.continuation.yield(Array(buffer[0..<Int(count)]))
            } else if count == -2 {
                // Nothing more for now. A hangup with no data left is the end of the console.
                if events & Self.hangupEvents != 0 {
                    finishInput(stream, &state, error: nil)
                }
                return
            } else if count == 0 {
                state.reachedEnd = true
                finishInput(stream, &state, error: nil)
                return
            } else {
                let error = LibvirtError.last(from: "virStreamRecv")
                // A pty whose other end closed reports EIO along with the hangup; that is
                // the guest going away, not a failure.
                finishInput(stream, &state, error: events & Self.hangupEvents != 0 ? nil : error)
                return
            }
        }
    }

    /// Ends `bytes` and unregisters the callback, which would otherwise fire forever on a
    /// hung-up descriptor.
    private func finishInput(_ stream: OpaquePointer, _ state: inout State, error: LibvirtError?) {
        state.continuation.finish(throwing: error)
        if state.watching {
            virStreamEventRemoveCallback(stream)
            virResetLastError()
            state.watching = false
        }
    }

    /// Asks for writability events only while someone waits, as a console is nearly
    /// always writable and would otherwise wake the loop constantly.
    ///
    /// The corresponding libvirt function is `virStreamEventUpdateCallback`.
    private func updateInterest(_ stream: OpaquePointer, _ state: inout State) {
        let events = Self.readEvents | (state.writers.isEmpty ? 0 : Self.writableEvent)
        if virStreamEventUpdateCallback(stream, events) != 0 {
            virResetLastError()
        }
    }

    /// Sends what the stream takes now.
    ///
    /// The corresponding libvirt function is `virStreamSend`.
    func send(_ bytes: ArraySlice<UInt8>) -> SendResult {
        state.withLock { state in
            guard let stream = state.stream else {
                return .failed(Self.closedError)
            }
            let count = bytes.withUnsafeBytes { raw in
                virStreamSend(
                    stream, raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count)
            }
            if count >= 0 { return .sent(Int(count)) }
            if count == -2 {
                // Without our callback nothing would ever report writability again.
                return state.watching ? .wouldBlock : .failed(Self.hungUpError)
            }
            return .failed(LibvirtError.last(from: "virStreamSend"))
        }
    }

    /// Returns once the event loop reports the stream writable, or at once if the stream
    /// is closed or no longer watched (the next send then reports why).
    func waitUntilWritable() async {
        await withCheckedContinuation { (writer: CheckedContinuation<Void, Never>) in
            state.withLock { state in
                guard let stream = state.stream, state.watching else {
                    writer.resume()
                    return
                }
                state.writers.append(writer)
                updateInterest(stream, &state)
            }
        }
    }

    func close() {
        state.withLock { state in
            guard let stream = state.stream else { return }
            state.stream = nil
            if state.watching {
                virStreamEventRemoveCallback(stream)
                state.watching = false
            }
            if state.reachedEnd {
                virStreamFinish(stream)
            } else {
                virStreamAbort(stream)
            }
            virResetLastError()
            virStreamFree(stream)
            state.continuation.finish()
            for writer in state.writers { writer.resume() }
            state.writers.removeAll()
        }
    }

    private static let closedError = LibvirtError(
        code: .operationInvalid, origin: .streams, message: "the console stream is closed",
        function: "virStreamSend")
    private static let hungUpError = LibvirtError(
        code: .operationInvalid, origin: .streams, message: "the console hung up",
        function: "virStreamSend")
}
