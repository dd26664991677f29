internal import CLibvirt
import Foundation

/// A domain changed lifecycle state: it was defined, started, stopped, ...
///
/// The corresponding libvirt type is `virDomainEventType`.
public struct DomainLifecycleEvent: Hashable, Sendable, CustomStringConvertible {
    /// What happened. libvirt may add kinds, so this is an open set.
    ///
    /// The corresponding libvirt type is `virDomainEventType`.
    public struct Kind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        init(_ type: virDomainEventType) { self.rawValue = Int32(bitPattern: type.rawValue) }

        public static let defined = Kind(VIR_DOMAIN_EVENT_DEFINED)
        public static let undefined = Kind(VIR_DOMAIN_EVENT_UNDEFINED)
        public static let started = Kind(VIR_DOMAIN_EVENT_STARTED)
        public static let suspended = Kind(VIR_DOMAIN_EVENT_SUSPENDED)
        public static let resumed = Kind(VIR_DOMAIN_EVENT_RESUMED)
        public static let stopped = Kind(VIR_DOMAIN_EVENT_STOPPED)
        public static let shutdown = Kind(VIR_DOMAIN_EVENT_SHUTDOWN)
        public static let pmSuspended = Kind(VIR_DOMAIN_EVENT_PMSUSPENDED)
        public static let crashed = Kind(VIR_DOMAIN_EVENT_CRASHED)

        public var description: String {
            switch self {
            case .defined: "defined"
            case .undefined: "undefined"
            case .started: "started"
            case .suspended: "suspended"
            case .resumed: "resumed"
            case .stopped: "stopped"
            case .shutdown: "shutdown"
            case .pmSuspended: "pmSuspended"
            case .crashed: "crashed"
            default: "kind \(rawValue)"
            }
        }
    }

    public var domainName: String
    public var domainUUID: UUID
    public var kind: Kind
    /// Why it happened; its meaning depends on ``kind`` (for ``Kind/stopped``, a
    /// `virDomainEventStoppedDetailType`: shut down, destroyed, crashed, ...).
    public var detail: Int32

    public init(domainName: String, domainUUID: UUID, kind: Kind, detail: Int32) {
        self.domainName = domainName
        self.domainUUID = domainUUID
        self.kind = kind
        self.detail = detail
    }

    public var description: String {
        "domain \(domainName) \(kind) (detail \(detail))"
    }
}

extension Connection {
    /// Lifecycle events for every domain on this connection, from now on, in order.
    ///
    /// libvirt delivers them on the event loop thread; they are buffered until consumed.
    /// The subscription ends when the consuming task is cancelled or the stream is
    /// dropped, and it keeps the connection open until then.
    ///
    /// The corresponding libvirt function is `virConnectDomainEventRegisterAny`.
    public func lifecycleEvents() async throws(LibvirtError) -> AsyncStream<DomainLifecycleEvent> {
        try await LibvirtWorkers.shared.run { [self] () throws(LibvirtError) in
            // libvirt tracks one lifecycle callback of ours per connection: one whose
            // subscription just ended must be gone before the next registers.
            try endedSubscriptions.withLock { (ended) throws(LibvirtError) in
                deregister(&ended)
                return try subscribeToLifecycleEvents()
            }
        }
    }

    /// Registers the callback; a round trip to the daemon with a remote driver.
    private func subscribeToLifecycleEvents() throws(LibvirtError) -> AsyncStream<DomainLifecycleEvent> {
        let (events, continuation) = AsyncStream<DomainLifecycleEvent>.makeStream()
        let subscriber = Unmanaged.passRetained(LifecycleSubscriber(continuation)).toOpaque()
        let callback:
            @convention(c) (
                OpaquePointer?, OpaquePointer?, Int32, Int32, UnsafeMutableRawPointer?
            ) -> Void = { _, domain, event, detail, opaque in
                guard let domain, let opaque else { return }
                let subscriber = Unmanaged<LifecycleSubscriber>.fromOpaque(opaque)
                    .takeUnretainedValue()
                subscriber.continuation.yield(
                    DomainLifecycleEvent(
                        domainName: virDomainGetName(domain).map { String(cString: $0) } ?? "",
                        domainUUID: Domain.uuid(of: domain),
                        kind: DomainLifecycleEvent.Kind(rawValue: event), detail: detail))
            }
        let callbackID = virConnectDomainEventRegisterAny(
            pointer, nil, Int32(VIR_DOMAIN_EVENT_ID_LIFECYCLE.rawValue),
            unsafeBitCast(callback, to: virConnectDomainEventGenericCallback.self), subscriber,
            { opaque in
                guard let opaque else { return }
                Unmanaged<LifecycleSubscriber>.fromOpaque(opaque).release()
            })
        guard callbackID >= 0 else {
            let error = LibvirtError.last(from: "virConnectDomainEventRegisterAny")
            Unmanaged<LifecycleSubscriber>.fromOpaque(subscriber).release()
            throw error
        }
        continuation.onTermination = { [self] _ in
            deregisterDomainEvent(callbackID)
        }
        return events
    }

    /// Removes an event callback soon, on ``LibvirtWorkers``: the subscription may end on
    /// a thread of the cooperative pool, or on the event loop's thread (libvirt lets a
    /// callback deregister itself), and with a remote driver this is a round trip to the
    /// daemon, which the loop thread could never see answered. A subscription made
    /// meanwhile removes it first (``lifecycleEvents()``).
    private func deregisterDomainEvent(_ callbackID: Int32) {
        endedSubscriptions.withLock { $0.append(callbackID) }
        LibvirtWorkers.shared.enqueue { [self] in
            endedSubscriptions.withLock { deregister(&$0) }
        }
    }

    /// The corresponding libvirt function is `virConnectDomainEventDeregisterAny`.
    private func deregister(_ ended: inout [Int32]) {
        for callbackID in ended where virConnectDomainEventDeregisterAny(pointer, callbackID) != 0 {
            virResetLastError()
        }
        ended.removeAll()
    }
}

extension Domain {
    /// Returns once the domain has stopped (or no longer exists). Subscribes to events
    /// before checking the state, so a stop in between is not missed.
    ///
    /// Throws `CancellationError` if the task is cancelled first.
    ///
    /// The corresponding libvirt functions are `virConnectDomainEventRegisterAny` and
    /// `virDomainGetState`.
    public func waitUntilStopped() async throws {
        let events = try await connection.lifecycleEvents()
        let uuid = self.uuid
        let current: StateInfo
        do {
            current = try await state()
        } catch {
            if error.code == .noDomain { return }
            throw error
        }
        if current.state == .shutoff { return }
        for await event in events where event.domainUUID == uuid && event.kind == .stopped {
            return
        }
        throw CancellationError()
    }
}

/// What libvirt holds on to while a lifecycle callback is registered; released by the
/// free callback libvirt calls once the registration is gone.
private final class LifecycleSubscriber: Sendable {
    let continuation: AsyncStream<DomainLifecycleEvent>.Continuation
    init(_ continuation: AsyncStream<DomainLifecycleEvent>.Continuation) {
        self.continuation = continuation
    }
}
