internal import CLibvirt
import Synchronization

/// Why libvirt closed a connection by itself: the daemon exited, the network broke, or
/// the daemon stopped answering.
///
/// The corresponding libvirt type is `virConnectCloseReason`.
public enum ConnectionCloseReason: Sendable, Hashable, CustomStringConvertible {
    case ioError
    case endOfFile
    case keepaliveTimeout
    case client
    case other(Int32)

    init(_ reason: Int32) {
        switch reason {
        case Int32(VIR_CONNECT_CLOSE_REASON_ERROR.rawValue): self = .ioError
        case Int32(VIR_CONNECT_CLOSE_REASON_EOF.rawValue): self = .endOfFile
        case Int32(VIR_CONNECT_CLOSE_REASON_KEEPALIVE.rawValue): self = .keepaliveTimeout
        case Int32(VIR_CONNECT_CLOSE_REASON_CLIENT.rawValue): self = .client
        default: self = .other(reason)
        }
    }

    public var description: String {
        switch self {
        case .ioError: "an I/O error on the connection"
        case .endOfFile: "the daemon closed the connection"
        case .keepaliveTimeout: "the daemon stopped answering (keepalive timed out)"
        case .client: "closed by this process"
        case .other(let reason): "reason \(reason)"
        }
    }
}

/// Hands the close of a connection to everyone waiting for it (``Connection/closed()``).
final class CloseWatch: Sendable {
    private let state = Mutex<(reason: ConnectionCloseReason?, waiting: [AsyncStream<ConnectionCloseReason>.Continuation])>(
        (nil, []))

    func closed(_ reason: ConnectionCloseReason) {
        let waiting = state.withLock { state in
            state.reason = state.reason ?? reason
            defer { state.waiting = [] }
            return state.waiting
        }
        for continuation in waiting {
            continuation.yield(reason)
            continuation.finish()
        }
    }

    func wait() -> AsyncStream<ConnectionCloseReason> {
        let (stream, continuation) = AsyncStream<ConnectionCloseReason>.makeStream()
        let reason = state.withLock { state in
            if state.reason == nil { state.waiting.append(continuation) }
            return state.reason
        }
        if let reason {
            continuation.yield(reason)
            continuation.finish()
        }
        return stream
    }
}

/// Called on the event loop's thread; the watch is what libvirt holds (released by
/// `releaseCloseWatch` when the callback goes).
private let closeCallback: virConnectCloseFunc = { _, reason, opaque in
    guard let opaque else { return }
    Unmanaged<CloseWatch>.fromOpaque(opaque).takeUnretainedValue().closed(ConnectionCloseReason(reason))
}

private let releaseCloseWatch: virFreeCallback = { opaque in
    guard let opaque else { return }
    Unmanaged<CloseWatch>.fromOpaque(opaque).release()
}

extension Connection {
    /// How often a remote connection asks whether the daemon is still there, and how
    /// many unanswered asks close it: a daemon cut off is noticed within 30 s. Three
    /// (15 s) closed a connection to a busy emulated Arm host in the middle of a base
    /// image's upload, whose daemon was alive and took the upload when asked again.
    static let keepAliveInterval: Int32 = 5
    static let keepAliveCount: UInt32 = 5

    /// Watches the new connection for its close, and makes a remote one ask the daemon
    /// regularly (keepalive), so that a daemon cut off without a word closes it too.
    /// Drivers without keepalive (the embedded one) simply do not use it.
    ///
    /// The corresponding libvirt functions are `virConnectRegisterCloseCallback` and
    /// `virConnectSetKeepAlive`.
    func watchForClose() {
        let opaque = Unmanaged.passRetained(closeWatch).toOpaque()
        if virConnectRegisterCloseCallback(pointer, closeCallback, opaque, releaseCloseWatch) != 0 {
            Unmanaged<CloseWatch>.fromOpaque(opaque).release()
            virResetLastError()
        }
        if virConnectSetKeepAlive(pointer, Self.keepAliveInterval, Self.keepAliveCount) < 0 { virResetLastError() }
    }

    /// Stops watching, before the connection closes.
    func stopWatchingForClose() {
        if virConnectUnregisterCloseCallback(pointer, closeCallback) != 0 { virResetLastError() }
    }

    /// Returns why the connection closed once libvirt closes it by itself (the daemon
    /// exited or stopped answering); nil when the waiting task is cancelled first.
    public func closed() async -> ConnectionCloseReason? {
        for await reason in closeWatch.wait() { return reason }
        return nil
    }
}
